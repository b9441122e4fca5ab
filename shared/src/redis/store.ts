// The narrow store interfaces services depend on. Adapters: ioredis, @upstash/redis, and the in-memory twin.
// Keys are full key strings built by createKeyspace(); stores add no prefix of their own.

/** Options of KeyValueStore.set. */
export interface SetOptions {
  /** Expire the key after this many milliseconds (a positive integer). Without it the key has no TTL. */
  ttlMs?: number;
  /** Write only if the key does not exist (SET NX). */
  onlyIfAbsent?: boolean;
}

/** Options of writes that may give the key a TTL. */
export interface TtlOptions {
  /** Milliseconds, a positive integer. */
  ttlMs?: number;
}

/** Plain string values. */
export interface KeyValueStore {
  /** The value, or null if the key is absent or expired. */
  get(key: string): Promise<string | null>;
  /** Writes the value (replacing any TTL); false only when onlyIfAbsent was set and the key exists. */
  set(key: string, value: string, opts?: SetOptions): Promise<boolean>;
  /** Deletes the keys (of any type); resolves to how many existed. */
  del(...keys: string[]): Promise<number>;
  /**
   * Atomically writes `next` if the current value equals `expected` (null: the key must be absent).
   * `next` is written like set(): with opts.ttlMs as its TTL, else with none. Resolves to whether it wrote.
   */
  compareAndSet(key: string, expected: string | null, next: string, opts?: TtlOptions): Promise<boolean>;
  /** Sets the key's TTL; false if the key does not exist. */
  expire(key: string, ttlMs: number): Promise<boolean>;
  /** The values in the order of `keys`; null for absent keys and keys that do not hold a string. */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  /**
   * The values in the order of `keys` (null for absent keys), each present key's TTL set to ttlMs as it is read
   * (GETEX), in one round trip. Rejects when a key holds something other than a string.
   */
  readAndRenew(keys: readonly string[], ttlMs: number): Promise<(string | null)[]>;
}

/** Hashes of counters and fields. */
export interface HashStore {
  /** Atomically adds integer increments to several fields; gives the key opts.ttlMs only if it has no TTL yet (a window never slides). */
  hincrby(key: string, increments: Record<string, number>, opts?: TtlOptions): Promise<void>;
  /** All fields of the hash; {} if absent. */
  hgetall(key: string): Promise<Record<string, string>>;
  /** Writes the fields (keeping the others); resolves to how many fields are new. */
  hset(key: string, fields: Record<string, string>): Promise<number>;
}

/** Unordered sets of strings. */
export interface SetStore {
  /** Adds members; resolves to how many were not there yet. */
  sadd(key: string, ...members: string[]): Promise<number>;
  /** Removes members; resolves to how many were there. */
  srem(key: string, ...members: string[]): Promise<number>;
  /** All members, in no particular order; [] if absent. */
  smembers(key: string): Promise<string[]>;
}

/** Lists of strings (Redis lists: index 0 is the head). */
export interface ListStore {
  /** Pushes values onto the head, one after the other (the last value ends up first); resolves to the new length. */
  lpush(key: string, ...values: string[]): Promise<number>;
  /**
   * The elements from index `start` to `stop`, both inclusive, as LRANGE counts them: negative indices count
   * from the tail (-1 is the last); out-of-range ends are clamped. [] if the key is absent.
   */
  lrange(key: string, start: number, stop: number): Promise<string[]>;
}

/** Integer counters. */
export interface CounterStore {
  /** Atomically adds 1 and gives the key opts.ttlMs if it has no TTL yet (first create); resolves to the new value. */
  incr(key: string, opts?: TtlOptions): Promise<number>;
  /** Subtracts 1 (an absent key counts from 0); resolves to the new value. */
  decr(key: string): Promise<number>;
}

/** A held lock. The key holds the random owner token until release or expiry. */
export interface Lock {
  /** The lock's key. */
  readonly key: string;
  /** The random token identifying this owner. */
  readonly token: string;
  /** Deletes the lock if this owner still holds it (compare-and-delete); false if it expired or was taken over. */
  release(): Promise<boolean>;
  /** Resets the lock's TTL if this owner still holds it; false otherwise. */
  extend(ttlMs: number): Promise<boolean>;
}

/** Single-owner locks with a TTL, so a crashed owner frees the lock by expiry. */
export interface LockStore {
  /** Takes the lock for ttlMs, or resolves to null if someone holds it. Never waits. */
  acquireLock(key: string, ttlMs: number): Promise<Lock | null>;
}

/** A write made along with a {@link OnceWrites}, whether or not its marker was set: one harmless to repeat. */
export interface RenewingWrite {
  key: string;
  /** Written (SET) with the TTL; without it the key only gets the TTL (nothing happens to an absent key). */
  value?: string;
  /** Milliseconds, a positive integer. */
  ttlMs: number;
}

/**
 * Writes made together, at most once per marker: what counts an event exactly once however often it is delivered
 * (a retried, stalled or duplicated job). A write's ttlMs is set by every write, so the key lives that long after
 * its last one.
 */
export interface OnceWrites {
  /** The event's marker. Absent, it is set (for ttlMs) and the writes below are made; present, none of them is. */
  marker: { key: string; ttlMs: number };
  /** HINCRBY of each field (integer amounts). */
  increments?: readonly { key: string; by: Record<string, number>; ttlMs?: number }[];
  /** SADD of one member. */
  members?: readonly { key: string; member: string; ttlMs?: number }[];
  /** LPUSH of one value, the list then trimmed to its newest `keep` values. */
  pushes?: readonly { key: string; value: string; keep: number }[];
  /** Made first, whatever the marker says, in the same round trip. */
  always?: readonly RenewingWrite[];
}

/** Events counted exactly once: the usage worker's totals, the alert log. */
export interface OnceStore {
  /**
   * Makes the writes in one atomic step, in one round trip. Resolves true when the marker was absent (everything
   * was written), false when it was there (only `always` was). Rejects, writing nothing, on a TTL, amount or `keep`
   * Redis would refuse.
   * @example
   * const counted = await store.writeOnce({ marker: { key: keys.usageDone(id), ttlMs }, increments: [{ key, by }] });
   */
  writeOnce(writes: OnceWrites): Promise<boolean>;
}

/** Everything a service may need from Redis, plus the connection lifecycle. */
export interface SharedStore extends KeyValueStore, HashStore, SetStore, ListStore, CounterStore, LockStore, OnceStore {
  /** Resolves once the backend answers; rejects if it cannot be reached. */
  ping(): Promise<void>;
  /** Releases the connection (ioredis: QUIT; Upstash: nothing to release). */
  close(): Promise<void>;
}
