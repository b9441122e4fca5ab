// The gateway's view of the fleet: the nodes with a live tunnel to this replica, as their latest reports
// describe them, plus the admin drain flags from Redis. Routing reads it on the request path with no
// Redis round trip; the drain flags are re-read about every second, and kept when Redis fails.
import type { IncomingHttpHeaders } from 'node:http';
import { DeadlineError, nextAccountState, parseRateLimitHeaders, withDeadline } from '@switchyard/shared';
import type { AccountState, Keyspace, KeyValueStore, Logger, NodeReport } from '@switchyard/shared';
import { buildViews, forgetCovered, type Observation } from './node-views.js';
import type { NodeView, RegistrySnapshot } from './types.js';

/** Where the node reports come from (the tunnel hub): the same array until something changed. */
export interface ReportSource {
  reports(): readonly NodeReport[];
}

/** Dependencies of createRegistrySnapshot. */
export interface RegistrySnapshotDeps {
  source: ReportSource;
  store: Pick<KeyValueStore, 'mget'>;
  keys: Pick<Keyspace, 'nodeControl'>;
  log: Logger;
  /** Time between drain-flag reads. Default 1000 ms. */
  intervalMs?: number;
  /** A read taking longer counts as a Redis failure. Default: intervalMs, at least 500 ms. */
  readTimeoutMs?: number;
  /** How long markUnreachable() keeps a node out. Default 5000 ms. */
  unreachableCooldownMs?: number;
  /**
   * How long a state learnt from a response outranks newer reports (see forgetCovered): a report
   * already on its way when the response arrived would not show it. Default 2000 ms.
   */
  observationGraceMs?: number;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
}

/** Whether a response carries anything that can move an account's state. */
function mattersForState(status: number, headers: IncomingHttpHeaders): boolean {
  if (status === 429) return true;
  for (const name in headers) if (name.startsWith('anthropic-ratelimit-')) return true;
  return false;
}

function limitsChanged(a: AccountState, b: AccountState): boolean {
  return (
    a.state !== b.state ||
    a.limitedUntil !== b.limitedUntil ||
    JSON.stringify(a.limitedFamilies ?? {}) !== JSON.stringify(b.limitedFamilies ?? {})
  );
}

function isDrained(raw: string | null | undefined): boolean {
  if (raw === null || raw === undefined) return false;
  try {
    const flag: unknown = JSON.parse(raw);
    return typeof flag === 'object' && flag !== null && (flag as { drained?: unknown }).drained === true;
  } catch {
    return false;
  }
}

/** Applies one response to what this instance believes about the node's account. */
function learn(view: NodeView, status: number, headers: IncomingHttpHeaders, nowMs: number): Observation {
  const prev = view.localState ?? view.record.state;
  const state = nextAccountState(prev, status, parseRateLimitHeaders(headers, nowMs), nowMs);
  return { state, baseHeartbeatAt: view.record.heartbeatAt, observedAt: nowMs };
}

/** Which of the nodes an admin drained. */
async function readDrained(deps: RegistrySnapshotDeps, nodeIds: readonly string[]): Promise<Set<string>> {
  if (nodeIds.length === 0) return new Set();
  const flags = await deps.store.mget(nodeIds.map((id) => deps.keys.nodeControl(id)));
  return new Set(nodeIds.filter((_, i) => isDrained(flags[i])));
}

/** Logs what an observation changed in a node's limits (its state, when the limit lifts, its limited families). */
function logStateChange(
  log: Logger,
  view: NodeView,
  observation: Observation,
  at: { nodeId: string; status: number; model: string | undefined },
): void {
  const prev = view.localState ?? view.record.state;
  if (!limitsChanged(prev, observation.state)) return;
  const { state, limitedUntil, limitedFamilies } = observation.state;
  log.info('node state changed by a response', { ...at, state, limitedUntil, limitedFamilies });
}

/**
 * Creates the snapshot. The nodes follow the source at once (a node whose last tunnel closed is gone on
 * the next nodes() call); every intervalMs the drain flags are read, and a read that fails or outlasts
 * readTimeoutMs keeps the last flags and turns redisHealthy() false until a read succeeds again.
 * @example
 * const registry = createRegistrySnapshot({ source: hub, store, keys, log });
 * registry.start();
 * const choice = chooseNodes(registry.nodes(), { … });
 */
export function createRegistrySnapshot(deps: RegistrySnapshotDeps): RegistrySnapshot {
  return new TunnelRegistrySnapshot(deps);
}

class TunnelRegistrySnapshot implements RegistrySnapshot {
  readonly #deps: RegistrySnapshotDeps;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #intervalMs: number;
  readonly #readTimeoutMs: number;
  readonly #cooldownMs: number;
  readonly #graceMs: number;
  #records: readonly NodeReport[] = [];
  #drained = new Set<string>();
  readonly #observations = new Map<string, Observation>();
  readonly #unreachable = new Map<string, number>();
  #views: NodeView[] = [];
  #healthy = false;
  #everRead = false;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;

  constructor(deps: RegistrySnapshotDeps) {
    this.#deps = deps;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#intervalMs = deps.intervalMs ?? 1000;
    this.#readTimeoutMs = deps.readTimeoutMs ?? Math.max(this.#intervalMs, 500);
    this.#cooldownMs = deps.unreachableCooldownMs ?? 5000;
    this.#graceMs = deps.observationGraceMs ?? 2000;
  }

  start(): void {
    if (this.#timer) return;
    this.#tick();
    this.#timer = setInterval(this.#tick, this.#intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  nodes(): NodeView[] {
    this.#follow();
    return this.#views;
  }

  // One read at a time: a slow Redis must not pile reads up behind each other.
  refreshNow(): Promise<void> {
    this.#running ??= this.#refresh().finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  observe(nodeId: string, status: number, headers: IncomingHttpHeaders, model: string | undefined): void {
    this.#follow();
    // Any answer proves the node reachable again.
    const wasUnreachable = this.#unreachable.delete(nodeId);
    const view = mattersForState(status, headers) ? this.#views.find((v) => v.record.nodeId === nodeId) : undefined;
    if (view) {
      const observation = learn(view, status, headers, this.#now());
      this.#observations.set(nodeId, observation);
      logStateChange(this.#log, view, observation, { nodeId, status, model });
    }
    if (view || wasUnreachable) this.#rebuild();
  }

  markUnreachable(nodeId: string): void {
    this.#follow();
    this.#unreachable.set(nodeId, this.#now() + this.#cooldownMs);
    this.#rebuild();
  }

  redisHealthy(): boolean {
    return this.#healthy;
  }

  readonly #tick = (): void => {
    this.refreshNow().catch(() => undefined); // already logged by #setHealthy
  };

  #rebuild(): void {
    const state = { drained: this.#drained, observations: this.#observations, unreachable: this.#unreachable };
    this.#views = buildViews(this.#records, state, this.#now());
  }

  // The source hands out a new array only when a report or a tunnel changed.
  #follow(): void {
    const latest = this.#deps.source.reports();
    if (latest === this.#records) return;
    this.#records = latest;
    forgetCovered(this.#records, this.#observations, this.#unreachable, this.#now(), this.#graceMs);
    this.#rebuild();
  }

  async #refresh(): Promise<void> {
    this.#follow();
    const reading = readDrained(
      this.#deps,
      this.#records.map((r) => r.nodeId),
    );
    try {
      this.#drained = await withDeadline(reading, this.#readTimeoutMs, 'drain flags read');
    } catch (err) {
      this.#setHealthy(false, err);
      throw err;
    }
    this.#rebuild();
    this.#setHealthy(true);
  }

  #setHealthy(ok: boolean, err?: unknown): void {
    if (ok && !this.#healthy && this.#everRead) this.#log.info('drain flags readable again');
    if (!ok && (this.#healthy || !this.#everRead)) {
      const timedOut = err instanceof DeadlineError;
      this.#log.warn('drain flags read failed; routing on the last ones', {
        timedOut,
        error: timedOut ? undefined : err instanceof Error ? err.message : String(err),
      });
    }
    this.#healthy = ok;
    this.#everRead = true;
  }
}
