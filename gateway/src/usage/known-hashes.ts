/** Block hashes Redis confirmed it has a count for, remembered for a while in this process. */
export interface KnownHashes {
  has(hash: string, nowMs: number): boolean;
  /** Only for hashes Redis answered with a count: a wrong entry would keep a block's text from the worker. */
  add(hash: string, nowMs: number): void;
  size(): number;
}

/**
 * A bounded LRU with a TTL (a Map keeps insertion order: re-inserting moves an entry to the end).
 * It lets the gateway skip asking Redis about a conversation's history on every turn, and keeps a
 * Redis outage from making every spooled job carry the whole conversation. The TTL stays well below
 * the block table's own, so an entry here is almost always still known there.
 */
export function createKnownHashes(opts: { maxEntries?: number; ttlMs?: number } = {}): KnownHashes {
  const maxEntries = opts.maxEntries ?? 100_000;
  const ttlMs = opts.ttlMs ?? 3_600_000;
  const expiries = new Map<string, number>();
  return {
    has(hash, nowMs) {
      const expires = expiries.get(hash);
      if (expires === undefined) return false;
      expiries.delete(hash);
      if (expires <= nowMs) return false;
      expiries.set(hash, expires);
      return true;
    },
    add(hash, nowMs) {
      expiries.delete(hash);
      expiries.set(hash, nowMs + ttlMs);
      if (expiries.size > maxEntries) {
        const oldest = expiries.keys().next();
        if (oldest.done !== true) expiries.delete(oldest.value);
      }
    },
    size: () => expiries.size,
  };
}
