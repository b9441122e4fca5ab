// Alerts about the fleet, from the node reports this replica already has (its tunnels' latest reports, as the
// registry snapshot shows them with the admin drain flags): an account entering needs_login, an account limited
// until a reset, a node that left without draining and did not come back within a grace. Every replica watching
// the same node raises the same ids, so the fleet raises each event once (alert-ids.ts).
import type { AlertEvent, AlertSink, Logger, NodeReport } from '@switchyard/shared';
import type { NodeView } from '../routing/index.js';
import { alertIds } from './alert-ids.js';

export interface FleetWatcherDeps {
  /** The nodes with a live tunnel here (RegistrySnapshot.nodes). */
  nodes(): readonly Pick<NodeView, 'record' | 'adminDrained'>[];
  sink: AlertSink;
  log: Logger;
  /** How long a node that left unexpectedly may take to come back before node_lost is raised. Default 30 s. */
  graceMs?: number;
  /** How often the reports are looked at. Default 1000 ms. */
  intervalMs?: number;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
  /**
   * Whether the node still holds a tunnel to another replica (its lease in Redis is held), asked before node_lost is
   * raised: a node that only lost its tunnel to this replica is not lost. Rejecting counts as "no" (better an alert
   * too many than a loss unsaid). None: every node that leaves this replica's reports for the grace is lost.
   */
  connectedElsewhere?(nodeId: string): Promise<boolean>;
}

export interface FleetWatcher {
  start(): void;
  stop(): void;
  /** Looks at the reports now (the timer calls it; tests call it with their own clock). */
  check(): void;
}

interface Seen {
  report: NodeReport;
  /** Drained by its node or by an admin: its leaving is expected. */
  leaving: boolean;
}

interface Gone {
  report: NodeReport;
  since: number;
}

/** The node's account label in a message is the node's own text: cut short, so no label can push a message past the schema. */
const LABEL_CHARS = 80;

function stateLabel(report: NodeReport): string {
  const label = report.accountLabel;
  if (label === undefined) return report.nodeId;
  return `${report.nodeId} (${label.length > LABEL_CHARS ? `${label.slice(0, LABEL_CHARS)}…` : label})`;
}

/** An account that entered needs_login, or became limited until a new time: its alerts (none when nothing changed). */
function stateChangeAlerts(report: NodeReport, before: NodeReport | undefined, at: number): AlertEvent[] {
  const state = report.state;
  const was = before?.state;
  const alerts: AlertEvent[] = [];
  if (state.state === 'needs_login' && was?.state !== 'needs_login') {
    alerts.push({
      id: alertIds.accountNeedsLogin(report.nodeId, state.updatedAt),
      type: 'account_needs_login',
      at,
      nodeId: report.nodeId,
      message: `The account of node ${stateLabel(report)} needs a login: log in again on its host (it takes no requests until then).`,
      data: { accountKind: report.accountKind, since: state.updatedAt },
    });
  }
  if (
    state.state === 'limited' &&
    state.limitedUntil !== undefined &&
    (was?.state !== 'limited' || was.limitedUntil !== state.limitedUntil)
  ) {
    alerts.push({
      id: alertIds.accountLimited(report.nodeId, state.limitedUntil),
      type: 'account_limited',
      at,
      nodeId: report.nodeId,
      message: `The account of node ${stateLabel(report)} is rate limited until ${new Date(state.limitedUntil).toISOString()}.`,
      data: {
        accountKind: report.accountKind,
        limitedUntil: state.limitedUntil,
        fiveHourUtilization: state.fiveHour?.utilization ?? null,
        sevenDayUtilization: state.sevenDay?.utilization ?? null,
      },
    });
  }
  return alerts;
}

function nodeLostAlert(entry: Gone, at: number): AlertEvent {
  const { report } = entry;
  return {
    id: alertIds.nodeLost(report.nodeId, report.heartbeatAt),
    type: 'node_lost',
    at,
    nodeId: report.nodeId,
    message: `Node ${stateLabel(report)} left the fleet without draining and has not come back for ${Math.round((at - entry.since) / 1000)} s.`,
    data: { accountKind: report.accountKind, lastHeartbeatAt: report.heartbeatAt, goneSince: entry.since },
  };
}

/**
 * @example
 * const watcher = createFleetWatcher({ nodes: () => registry.nodes(), sink: alerts, log, graceMs: config.ALERT_NODE_LOST_GRACE_MS, connectedElsewhere });
 * watcher.start();
 */
export function createFleetWatcher(deps: FleetWatcherDeps): FleetWatcher {
  return new ReportFleetWatcher(deps);
}

class ReportFleetWatcher implements FleetWatcher {
  readonly #deps: FleetWatcherDeps;
  readonly #now: () => number;
  readonly #graceMs: number;
  readonly #intervalMs: number;
  readonly #seen = new Map<string, Seen>();
  readonly #gone = new Map<string, Gone>();
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: FleetWatcherDeps) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#graceMs = deps.graceMs ?? 30_000;
    this.#intervalMs = deps.intervalMs ?? 1_000;
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(), this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  check(): void {
    const at = this.#now();
    const present = this.#lookAtReports(at);
    this.#markGone(present, at);
    this.#raiseLostPastGrace(at);
  }

  /** Raises what changed in each report since the last look; returns the node ids present. */
  #lookAtReports(at: number): Set<string> {
    const present = new Set<string>();
    for (const view of this.#deps.nodes()) {
      const report = view.record;
      present.add(report.nodeId);
      // Back within the grace: a reconnect, not a loss.
      this.#gone.delete(report.nodeId);
      const before = this.#seen.get(report.nodeId);
      if (before?.report !== report) {
        for (const alert of stateChangeAlerts(report, before?.report, at)) this.#deps.sink.emit(alert);
      }
      this.#seen.set(report.nodeId, { report, leaving: view.adminDrained || report.state.state === 'draining' });
    }
    return present;
  }

  /** A node no longer reported that was not leaving starts its grace. */
  #markGone(present: ReadonlySet<string>, at: number): void {
    for (const [nodeId, entry] of this.#seen) {
      if (present.has(nodeId)) continue;
      this.#seen.delete(nodeId);
      if (!entry.leaving) this.#gone.set(nodeId, { report: entry.report, since: at });
    }
  }

  #raiseLostPastGrace(at: number): void {
    for (const [nodeId, entry] of this.#gone) {
      if (at - entry.since < this.#graceMs) continue;
      this.#gone.delete(nodeId);
      if (this.#deps.connectedElsewhere === undefined) this.#raiseLost(entry, at);
      else void this.#confirmLost(entry, at);
    }
  }

  async #confirmLost(entry: Gone, at: number): Promise<void> {
    const asked = this.#deps.connectedElsewhere?.(entry.report.nodeId) ?? Promise.resolve(false);
    const connected = await asked.catch(() => false);
    if (connected) {
      this.#deps.log.info('node left this replica but is connected to another; not lost', {
        nodeId: entry.report.nodeId,
      });
      return;
    }
    this.#raiseLost(entry, at);
  }

  #raiseLost(entry: Gone, at: number): void {
    const { report } = entry;
    this.#deps.sink.emit(nodeLostAlert(entry, at));
    this.#deps.log.warn('node lost', {
      nodeId: report.nodeId,
      lastHeartbeatAt: report.heartbeatAt,
      goneForMs: at - entry.since,
    });
  }
}
