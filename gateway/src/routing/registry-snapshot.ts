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
  const now = deps.now ?? Date.now;
  const intervalMs = deps.intervalMs ?? 1000;
  const readTimeoutMs = deps.readTimeoutMs ?? Math.max(intervalMs, 500);
  const cooldownMs = deps.unreachableCooldownMs ?? 5000;
  const graceMs = deps.observationGraceMs ?? 2000;
  const log = deps.log;

  let records: readonly NodeReport[] = [];
  let drained = new Set<string>();
  const observations = new Map<string, Observation>();
  const unreachable = new Map<string, number>();
  let views: NodeView[] = [];
  let healthy = false;
  let everRead = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  function rebuild(): void {
    views = buildViews(records, { drained, observations, unreachable }, now());
  }

  // The source hands out a new array only when a report or a tunnel changed.
  function follow(): void {
    const latest = deps.source.reports();
    if (latest === records) return;
    records = latest;
    forgetCovered(records, observations, unreachable, now(), graceMs);
    rebuild();
  }

  function setHealthy(ok: boolean, err?: unknown): void {
    if (ok && !healthy && everRead) log.info('drain flags readable again');
    if (!ok && (healthy || !everRead)) {
      const timedOut = err instanceof DeadlineError;
      log.warn('drain flags read failed; routing on the last ones', {
        timedOut,
        error: timedOut ? undefined : err instanceof Error ? err.message : String(err),
      });
    }
    healthy = ok;
    everRead = true;
  }

  async function refresh(): Promise<void> {
    follow();
    const reading = readDrained(
      deps,
      records.map((r) => r.nodeId),
    );
    try {
      drained = await withDeadline(reading, readTimeoutMs, 'drain flags read');
    } catch (err) {
      setHealthy(false, err);
      throw err;
    }
    rebuild();
    setHealthy(true);
  }

  // One read at a time: a slow Redis must not pile reads up behind each other.
  function refreshOnce(): Promise<void> {
    running ??= refresh().finally(() => {
      running = undefined;
    });
    return running;
  }

  function tick(): void {
    refreshOnce().catch(() => undefined); // already logged by setHealthy
  }

  return {
    start() {
      if (timer) return;
      tick();
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
    nodes() {
      follow();
      return views;
    },
    refreshNow: refreshOnce,
    observe(nodeId, status, headers, model) {
      follow();
      // Any answer proves the node reachable again.
      const wasUnreachable = unreachable.delete(nodeId);
      const view = mattersForState(status, headers) ? views.find((v) => v.record.nodeId === nodeId) : undefined;
      if (view) {
        const observation = learn(view, status, headers, now());
        observations.set(nodeId, observation);
        const prev = view.localState ?? view.record.state;
        if (limitsChanged(prev, observation.state)) {
          const { state, limitedUntil, limitedFamilies } = observation.state;
          log.info('node state changed by a response', { nodeId, status, model, state, limitedUntil, limitedFamilies });
        }
      }
      if (view || wasUnreachable) rebuild();
    },
    markUnreachable(nodeId) {
      follow();
      unreachable.set(nodeId, now() + cooldownMs);
      rebuild();
    },
    redisHealthy: () => healthy,
  };
}
