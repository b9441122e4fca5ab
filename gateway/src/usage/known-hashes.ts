import { LRUCache } from 'lru-cache';

/** Block hashes Redis confirmed it has a count for, remembered for a while in this process. */
export interface KnownHashes {
  has(hash: string): boolean;
  /** Only for hashes Redis answered with a count: a wrong entry would keep a block's text from the worker. */
  add(hash: string): void;
  size(): number;
}

/**
 * A bounded LRU with a TTL. It lets the gateway skip asking Redis about a conversation's history on every turn,
 * and keeps a Redis outage from making every spooled job carry the whole conversation. The TTL stays well below
 * the block table's own, so an entry here is almost always still known there. Asking does not extend it: only a
 * fresh confirmation from Redis (add) does.
 */
export function createKnownHashes(opts: { maxEntries?: number; ttlMs?: number; now?: () => number } = {}): KnownHashes {
  const now = opts.now ?? Date.now;
  // ttlResolution 0: lru-cache would otherwise reuse a reading of the clock for 1 ms (with a timer to forget it).
  const expiring = new LRUCache<string, true>({
    max: opts.maxEntries ?? 100_000,
    ttl: opts.ttlMs ?? 3_600_000,
    ttlResolution: 0,
    perf: { now },
  });
  return {
    has: (hash) => expiring.get(hash) === true,
    add: (hash) => void expiring.set(hash, true),
    size: () => expiring.size,
  };
}
