// The gateway's local copy of the fleet registry. Routing reads it on the request path with no Redis
// round trip; a background refresh replaces it about every second, and keeps it when Redis fails.
import type { IncomingHttpHeaders } from 'node:http';
import { nextAccountState, parseRateLimitHeaders, readNodeRecords } from '@switchyard/shared';
import type { AccountState, Keyspace, Logger, NodeRecord, RegistryStore } from '@switchyard/shared';
import { errorMessage, within } from './bounded.js';
import { buildViews, forgetCovered, type Observation } from './node-views.js';
import type { NodeView, RegistrySnapshot } from './types.js';

/** Dependencies of createRegistrySnapshot. */
export interface RegistrySnapshotDeps {
  store: RegistryStore;
  keys: Pick<Keyspace, 'node' | 'nodes' | 'nodeControl'>;
  log: Logger;
  /** Time between registry reads. Default 1000 ms. */
  intervalMs?: number;
  /** A read taking longer counts as a Redis failure. Default: intervalMs, at least 500 ms. */
  readTimeoutMs?: number;
  /** How long markUnreachable() keeps a node out. Default 5000 ms. */
  unreachableCooldownMs?: number;
  /**
   * How long a state learnt from a response outranks newer heartbeats (see forgetCovered): a beat
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

// Once per entry and problem: the same bad entry is read every interval.
function malformedWarner(log: Logger): (nodeId: string, issues: string) => void {
  const seen = new Set<string>();
  return (nodeId, issues) => {
    const id = `${nodeId}\0${issues}`;
    if (seen.has(id)) return;
    if (seen.size >= 1000) seen.clear();
    seen.add(id);
    log.warn('registry entry malformed; skipped', { nodeId, issues });
  };
}

/** The live nodes and which of them an admin drained. */
async function readFleet(
  deps: RegistrySnapshotDeps,
  onMalformed: (nodeId: string, issues: string) => void,
): Promise<{ records: NodeRecord[]; drained: Set<string> }> {
  const records = await readNodeRecords(deps.store, deps.keys, { onMalformed });
  const flags = records.length === 0 ? [] : await deps.store.mget(records.map((r) => deps.keys.nodeControl(r.nodeId)));
  return { records, drained: new Set(records.filter((_, i) => isDrained(flags[i])).map((r) => r.nodeId)) };
}

/**
 * Creates the snapshot; nothing is read until start() or refreshNow(). Every intervalMs it reads the
 * registry entries and the drain flags; a read that fails or outlasts readTimeoutMs leaves the last
 * snapshot in place and turns redisHealthy() false until a read succeeds again.
 * @example
 * const registry = createRegistrySnapshot({ store, keys, log });
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

  let records: NodeRecord[] = [];
  let drained = new Set<string>();
  const observations = new Map<string, Observation>();
  const unreachable = new Map<string, number>();
  let views: NodeView[] = [];
  let healthy = false;
  let everRead = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;

  const warnMalformed = malformedWarner(log);

  function rebuild(): void {
    views = buildViews(records, { drained, observations, unreachable }, now());
  }

  function setHealthy(ok: boolean, err?: unknown, timedOut = false): void {
    if (ok && !healthy && everRead) log.info('registry reachable again');
    if (!ok && (healthy || !everRead)) {
      log.warn('registry read failed; routing on the last snapshot', { timedOut, error: timedOut ? undefined : errorMessage(err) });
    }
    healthy = ok;
    everRead = true;
  }

  async function refresh(): Promise<void> {
    const answer = await within(readFleet(deps, warnMalformed), readTimeoutMs);
    if (!answer.ok) {
      setHealthy(false, answer.error, answer.timedOut);
      throw answer.timedOut ? new Error(`registry read took over ${readTimeoutMs} ms`) : answer.error;
    }
    records = answer.value.records;
    drained = answer.value.drained;
    forgetCovered(records, observations, unreachable, now(), graceMs);
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
    nodes: () => views,
    refreshNow: refreshOnce,
    observe(nodeId, status, headers, model) {
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
      unreachable.set(nodeId, now() + cooldownMs);
      rebuild();
    },
    redisHealthy: () => healthy,
  };
}
