// Keeps this node's registry entry alive. The entry carries a TTL of a few intervals, so a node that
// dies or hangs drops out of the fleet by itself; leave() takes it out at once on a clean shutdown.
import { removeNodeRecord, writeNodeRecord } from '@switchyard/shared';
import type { Logger, NodeRecord, RegistryKeys, RegistryStore } from '@switchyard/shared';

/** Dependencies of createHeartbeat. */
export interface HeartbeatDeps {
  store: RegistryStore;
  keys: RegistryKeys;
  /** Time between beats (HEARTBEAT_INTERVAL_MS). */
  intervalMs: number;
  /** The entry's TTL; default 3 × intervalMs. Must exceed intervalMs or a healthy node would blink out between beats. */
  ttlMs?: number;
  /** The entry to publish, built fresh for each beat. */
  record: () => NodeRecord;
  log: Logger;
  /** Epoch ms, for outage durations. Default Date.now. */
  now?: () => number;
}

/** The node's presence in the registry. */
export interface Heartbeat {
  /** Beats now and every intervalMs; returns at once (never waits for Redis). */
  start(): void;
  /** Publishes the current record now (e.g. on a state change). Never rejects; failures are logged. Coalesces with a running beat. */
  beatNow(): Promise<void>;
  /** Stops the periodic beats; the entry then expires by its TTL unless beatNow() or start() runs again. */
  stop(): void;
  /** Stops for good, lets a running beat finish, and removes the entry. Never rejects; gives up after the TTL (the entry is gone by then anyway). */
  leave(): Promise<void>;
}

function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { error: String(err) };
  const code = (err as { code?: unknown }).code;
  // Not `code`: the logger masks that name (OAuth authorization codes).
  return code === undefined ? { error: err.message } : { error: err.message, errorCode: code };
}

/** Resolves to true if `work` settled within `ms`, false otherwise. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Creates the heartbeat; nothing happens until start() or beatNow().
 * @example
 * const heartbeat = createHeartbeat({ store, keys, intervalMs: cfg.HEARTBEAT_INTERVAL_MS, record: () => buildRecord(), log });
 * heartbeat.start();
 * // on SIGTERM: account.setDraining(); await heartbeat.beatNow(); await gate.drain(…); await heartbeat.leave();
 */
export function createHeartbeat(deps: HeartbeatDeps): Heartbeat {
  const { store, keys, intervalMs, log } = deps;
  const ttlMs = deps.ttlMs ?? intervalMs * 3;
  const now = deps.now ?? Date.now;
  if (!Number.isInteger(intervalMs) || intervalMs <= 0) throw new RangeError('heartbeat intervalMs must be a positive integer');
  if (!Number.isInteger(ttlMs) || ttlMs <= intervalMs) throw new RangeError('heartbeat ttlMs must be an integer above intervalMs');

  let running: Promise<void> | undefined;
  let queued: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  let left = false;
  // Bumped by start(): a beat from before a stop() must not revive the old schedule next to the new one.
  let generation = 0;
  let lastNodeId: string | undefined;
  let outage: { since: number; failedBeats: number } | undefined;

  async function beatOnce(): Promise<void> {
    try {
      const record = deps.record();
      lastNodeId = record.nodeId;
      await writeNodeRecord(store, keys, record, ttlMs);
      if (outage) {
        log.info('heartbeat restored', { failedBeats: outage.failedBeats, outageMs: now() - outage.since });
        outage = undefined;
      }
    } catch (err) {
      // One line per outage: a Redis that is down for an hour must not write 720 warnings.
      if (!outage) {
        outage = { since: now(), failedBeats: 0 };
        log.warn('heartbeat failed', { ...errorFields(err), ttlMs });
      }
      outage.failedBeats += 1;
    }
  }

  function beatNow(): Promise<void> {
    if (left) return Promise.resolve();
    if (!running) {
      running = beatOnce().finally(() => {
        running = undefined;
      });
      return running;
    }
    // A beat is on the wire with an older record: one more follows it, shared by every caller meanwhile.
    queued ??= running.then(() => {
      queued = undefined;
      return beatNow();
    });
    return queued;
  }

  function tick(): void {
    timer = undefined;
    const startedAt = now();
    const gen = generation;
    void beatNow().then(() => {
      // The next beat counts from this one's start, and never begins before this one ended.
      if (started && gen === generation) timer = setTimeout(tick, Math.max(0, intervalMs - (now() - startedAt))).unref();
    });
  }

  function stop(): void {
    started = false;
    if (timer) clearTimeout(timer);
    timer = undefined;
  }

  return {
    start() {
      if (started || left) return;
      started = true;
      generation += 1;
      tick();
    },
    beatNow,
    stop,
    async leave() {
      if (left) return;
      stop();
      left = true;
      const removed = within(
        (async () => {
          await (queued ?? running);
          await removeNodeRecord(store, keys, lastNodeId ?? deps.record().nodeId);
        })(),
        ttlMs,
      );
      try {
        if (await removed) log.info('left the registry');
        else log.warn('registry leave timed out', { ttlMs });
      } catch (err) {
        log.warn('registry leave failed', errorFields(err));
      }
    },
  };
}
