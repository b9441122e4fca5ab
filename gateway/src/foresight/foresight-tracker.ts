// Quota foresight: reads every connected node's 5-hour and 7-day utilization from the registry snapshot (what the
// nodes report and what this gateway saw in their responses) on a timer and whenever the fleet is listed, keeps a
// bounded history per node and window, predicts when each account runs out, and raises one `fleet_exhaustion`
// alert per reset period when the whole fleet is predicted to. In memory only: a restarted gateway measures anew.
import { NO_ALERTS, type AlertSink, type Logger } from '@switchyard/shared';
import { stateOf, type NodeView } from '../routing/index.js';
import { fleetExhaustion } from './fleet-exhaustion.js';
import { predictAccount, recordAccount, type NodeForesight, type NodeHistory } from './node-foresight.js';
import { DEFAULT_HISTORY_OPTIONS, type HistoryOptions } from './window-history.js';

/** Dependencies of createForesight. */
export interface ForesightDeps {
  registry: { nodes(): NodeView[] };
  log: Logger;
  /** Where the fleet alert goes; default NO_ALERTS. */
  alerts?: AlertSink;
  /** Epoch ms; default Date.now. */
  now?: () => number;
  /** Time between readings when nobody lists the fleet; default 10 s. */
  intervalMs?: number;
  /** How the histories are kept and the burn measured (docs/FORESIGHT.md). */
  history?: Partial<HistoryOptions>;
}

/** The foresight of every connected node, by node id: null for an API-key account (it has no windows). */
export type FleetForesight = ReadonlyMap<string, NodeForesight | null>;

/** Predicts when the fleet's accounts run out. */
export interface Foresight {
  /** Starts the periodic reading (a first one at once). */
  start(): void;
  stop(): void;
  /** Reads every node's windows now, checks the fleet (raising its alert once per id) and answers the predictions. */
  tick(): FleetForesight;
}

// The ids already raised by this gateway: enough to cover the reset periods a process lives through.
const RAISED_KEPT = 32;

/**
 * Creates the foresight. `tick()` is what GET /admin/nodes calls; `start()` makes it read on its own too, so the
 * burn is measured whether or not anyone looks.
 * @example
 * const foresight = createForesight({ registry, log, alerts });
 * foresight.start();
 * foresight.tick().get('node-a')?.exhaustsAt;
 */
export function createForesight(deps: ForesightDeps): Foresight {
  return new ForesightTracker(deps);
}

/** Per node and window, a bounded history of the readings; the fleet alert ids it raised last. */
class ForesightTracker implements Foresight {
  readonly #registry: ForesightDeps['registry'];
  readonly #log: Logger;
  readonly #alerts: AlertSink;
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #opts: HistoryOptions;
  readonly #histories = new Map<string, NodeHistory>();
  readonly #raised: string[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: ForesightDeps) {
    this.#registry = deps.registry;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#alerts = deps.alerts ?? NO_ALERTS;
    this.#opts = { ...DEFAULT_HISTORY_OPTIONS, ...deps.history };
    this.#intervalMs = deps.intervalMs ?? 10_000;
  }

  start(): void {
    if (this.#timer) return;
    this.tick();
    this.#timer = setInterval(() => this.tick(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  tick(): FleetForesight {
    const nowMs = this.#now();
    const views = this.#registry.nodes();
    const predictions = new Map<string, NodeForesight | null>();
    const present = new Set<string>();
    for (const view of views) {
      const nodeId = view.record.nodeId;
      present.add(nodeId);
      if (view.record.accountKind === 'api_key') {
        predictions.set(nodeId, null);
        continue;
      }
      const account = stateOf(view);
      const history = recordAccount(this.#histories.get(nodeId) ?? {}, account, nowMs, this.#opts);
      this.#histories.set(nodeId, history);
      predictions.set(nodeId, predictAccount(history, account, nowMs, this.#opts));
    }
    // A node that left takes its history with it (it measures anew when it is back).
    for (const nodeId of this.#histories.keys()) if (!present.has(nodeId)) this.#histories.delete(nodeId);
    this.#raiseOnce(views, predictions, nowMs);
    return predictions;
  }

  #raiseOnce(views: readonly NodeView[], predictions: FleetForesight, nowMs: number): void {
    const members = views.map((v) => ({
      nodeId: v.record.nodeId,
      account: stateOf(v),
      adminDrained: v.adminDrained,
      foresight: predictions.get(v.record.nodeId) ?? null,
    }));
    const alert = fleetExhaustion(members, nowMs);
    if (alert === undefined || this.#raised.includes(alert.id)) return;
    this.#raised.push(alert.id);
    if (this.#raised.length > RAISED_KEPT) this.#raised.shift();
    this.#log.warn('fleet predicted to run out', { alertId: alert.id, ...alert.data });
    try {
      this.#alerts.emit(alert);
    } catch (err) {
      // A sink must not throw; if one does, the prediction still answers.
      this.#log.error('fleet alert not raised', { alertId: alert.id, err });
    }
  }
}
