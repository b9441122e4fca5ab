// Which node each conversation sticks to: Redis so every gateway instance agrees, a local LRU map so an
// outage (or a slow Redis) never holds a request longer than the bounded timeout.
import type { KeyValueStore, Keyspace, Logger } from '@switchyard/shared';
import { errorMessage, within } from './bounded.js';
import type { StickyStore } from './types.js';

/** Dependencies of createStickyStore. */
export interface StickyStoreDeps {
  store: Pick<KeyValueStore, 'get' | 'set'>;
  keys: Pick<Keyspace, 'sticky'>;
  log: Logger;
  /** How long an unused mapping lives (renewed by every remember()). Default 6 h. */
  ttlMs?: number;
  /** Longest a lookup waits for Redis before answering from the local map. Default 50 ms. */
  timeoutMs?: number;
  /** Most mappings kept locally (least recently used dropped first). Default 50,000. */
  maxLocal?: number;
  /** After a Redis failure, answer locally (and skip writes) for this long before asking again. Default 1 s. */
  backoffMs?: number;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
}

interface LocalEntry {
  nodeId: string;
  expiresAt: number;
}

function createLocalMap(maxEntries: number, now: () => number) {
  const map = new Map<string, LocalEntry>();
  return {
    get(id: string): string | undefined {
      const entry = map.get(id);
      if (entry === undefined) return undefined;
      map.delete(id);
      if (entry.expiresAt <= now()) return undefined;
      map.set(id, entry); // most recently used goes last
      return entry.nodeId;
    },
    put(id: string, nodeId: string, ttlMs: number): void {
      map.delete(id);
      map.set(id, { nodeId, expiresAt: now() + ttlMs });
      if (map.size > maxEntries) {
        const oldest = map.keys().next();
        if (oldest.done !== true) map.delete(oldest.value);
      }
    },
  };
}

/**
 * Creates the sticky store. lookup() asks Redis with a deadline (timeoutMs) and falls back to the
 * local map on a timeout, an error or a miss; remember() writes the local map at once and Redis
 * fire-and-forget with the TTL, so every use renews the mapping. After a Redis failure both stay
 * local for backoffMs, so an outage costs one timeout per backoff period, not one per request.
 * @example
 * const sticky = createStickyStore({ store, keys, log });
 * const stickyNodeId = await sticky.lookup(key.id, session.key);
 * // … after the request was served by nodeId:
 * sticky.remember(key.id, session.key, nodeId);
 */
export function createStickyStore(deps: StickyStoreDeps): StickyStore {
  const now = deps.now ?? Date.now;
  const ttlMs = deps.ttlMs ?? 6 * 60 * 60 * 1000;
  const timeoutMs = deps.timeoutMs ?? 50;
  const backoffMs = deps.backoffMs ?? 1000;
  const local = createLocalMap(deps.maxLocal ?? 50_000, now);
  let pausedUntil = 0;
  let degraded = false;

  function failed(err: unknown, timedOut: boolean): void {
    pausedUntil = now() + backoffMs;
    if (degraded) return;
    degraded = true;
    deps.log.warn('sticky store degraded to the local map', { timedOut, error: timedOut ? undefined : errorMessage(err) });
  }

  function succeeded(): void {
    if (!degraded) return;
    degraded = false;
    deps.log.info('sticky store reachable again');
  }

  function redisKey(keyId: string, sessionHash: string): string | undefined {
    try {
      return deps.keys.sticky(keyId, sessionHash);
    } catch {
      return undefined; // an id no key can be built from still gets local stickiness
    }
  }

  return {
    async lookup(keyId, sessionHash) {
      const id = `${keyId}\0${sessionHash}`;
      const key = redisKey(keyId, sessionHash);
      if (key === undefined || now() < pausedUntil) return local.get(id);
      const answer = await within(deps.store.get(key), timeoutMs);
      if (!answer.ok) {
        failed(answer.error, answer.timedOut);
        return local.get(id);
      }
      succeeded();
      // A value in Redis wins: another instance may have moved the conversation.
      if (answer.value === null) return local.get(id);
      local.put(id, answer.value, ttlMs);
      return answer.value;
    },
    remember(keyId, sessionHash, nodeId) {
      local.put(`${keyId}\0${sessionHash}`, nodeId, ttlMs);
      const key = redisKey(keyId, sessionHash);
      if (key === undefined || now() < pausedUntil) return;
      deps.store.set(key, nodeId, { ttlMs }).then(succeeded, (err: unknown) => failed(err, false));
    },
  };
}
