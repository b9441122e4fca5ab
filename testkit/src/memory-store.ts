// The in-memory twin of SharedStore: same semantics as the Redis adapters (the contract suite runs on all
// three), TTLs measured on an injectable clock. Single-threaded, so every operation is atomic for free.
import {
  assertListIndex,
  assertOnceWrites,
  assertTtlMs,
  incrementPairs,
  newLockToken,
  ttlArg,
} from '@switchyard/shared';
import type { Lock, OnceWrites, SetOptions, SharedStore, TtlOptions } from '@switchyard/shared';

/** Options of createMemoryStore. */
export interface MemoryStoreOptions {
  /** The clock TTLs are measured on, in epoch ms. Default Date.now. */
  now?: () => number;
}

type Entry =
  | { kind: 'string'; value: string; expiresAt: number | null }
  | { kind: 'hash'; value: Map<string, string>; expiresAt: number | null }
  | { kind: 'set'; value: Set<string>; expiresAt: number | null }
  | { kind: 'list'; value: string[]; expiresAt: number | null };

type Kind = Entry['kind'];

const INTEGER_RE = /^-?\d+$/;

// LRANGE's index rules: negative counts from the tail, both ends inclusive and clamped.
function listSlice(list: readonly string[], start: number, stop: number): string[] {
  const from = Math.max(0, start < 0 ? list.length + start : start);
  const to = Math.min(list.length - 1, stop < 0 ? list.length + stop : stop);
  return from > to ? [] : list.slice(from, to + 1);
}

// Resolves with f's result, or rejects with what it throws, like a Redis reply would.
function reply<T>(f: () => T): Promise<T> {
  return new Promise<T>((resolve) => resolve(f()));
}

/** A SharedStore held in process memory, for unit tests and single-process runs. */
export function createMemoryStore(opts: MemoryStoreOptions = {}): SharedStore {
  const now = opts.now ?? Date.now;
  const entries = new Map<string, Entry>();

  function live(key: string): Entry | undefined {
    const entry = entries.get(key);
    if (entry?.expiresAt != null && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  }

  function typed<K extends Kind>(key: string, kind: K): Extract<Entry, { kind: K }> | undefined {
    const entry = live(key);
    if (entry === undefined) return undefined;
    if (entry.kind !== kind) throw new TypeError('WRONGTYPE Operation against a key holding the wrong kind of value');
    return entry as Extract<Entry, { kind: K }>;
  }

  function expiry(ttlMs: number | undefined): number | null {
    return ttlMs === undefined ? null : now() + ttlMs;
  }

  function stringValue(key: string): string | null {
    return typed(key, 'string')?.value ?? null;
  }

  function addToCounter(key: string, by: number): number {
    const entry = typed(key, 'string');
    if (entry && !INTEGER_RE.test(entry.value)) throw new RangeError('ERR value is not an integer or out of range');
    const next = (entry ? Number(entry.value) : 0) + by;
    entries.set(key, { kind: 'string', value: String(next), expiresAt: entry?.expiresAt ?? null });
    return next;
  }

  function applyTtlIfNone(key: string, ttlMs: number | undefined): void {
    const entry = live(key);
    if (entry && ttlMs !== undefined && entry.expiresAt === null) entry.expiresAt = now() + ttlMs;
  }

  function set(key: string, value: string, o: SetOptions = {}): boolean {
    ttlArg(o.ttlMs);
    if (o.onlyIfAbsent && live(key) !== undefined) return false;
    entries.set(key, { kind: 'string', value, expiresAt: expiry(o.ttlMs) });
    return true;
  }

  function setTtl(key: string, ttlMs: number | undefined): void {
    const entry = live(key);
    if (entry && ttlMs !== undefined) entry.expiresAt = now() + ttlMs;
  }

  function writeOnce(writes: OnceWrites): boolean {
    assertOnceWrites(writes);
    // Redis checks the types as it goes, after the writes before; a wrong type here is refused before any write.
    for (const i of writes.increments ?? []) typed(i.key, 'hash');
    for (const m of writes.members ?? []) typed(m.key, 'set');
    for (const p of writes.pushes ?? []) typed(p.key, 'list');
    for (const w of writes.always ?? []) {
      if (w.value === undefined) setTtl(w.key, w.ttlMs);
      else set(w.key, w.value, { ttlMs: w.ttlMs });
    }
    if (!set(writes.marker.key, '1', { ttlMs: writes.marker.ttlMs, onlyIfAbsent: true })) return false;
    for (const i of writes.increments ?? []) {
      const pairs = incrementPairs(i.by);
      const hash = typed(i.key, 'hash') ?? { kind: 'hash' as const, value: new Map<string, string>(), expiresAt: null };
      for (const [field, by] of pairs) {
        const current = hash.value.get(field);
        if (current !== undefined && !INTEGER_RE.test(current))
          throw new RangeError('ERR hash value is not an integer');
        hash.value.set(field, String(Number(current ?? '0') + by));
      }
      if (pairs.length > 0) entries.set(i.key, hash);
      setTtl(i.key, i.ttlMs);
    }
    for (const m of writes.members ?? []) {
      const entry = typed(m.key, 'set') ?? { kind: 'set' as const, value: new Set<string>(), expiresAt: null };
      entry.value.add(m.member);
      entries.set(m.key, entry);
      setTtl(m.key, m.ttlMs);
    }
    for (const p of writes.pushes ?? []) {
      const entry = typed(p.key, 'list') ?? { kind: 'list' as const, value: [], expiresAt: null };
      entry.value.unshift(p.value);
      entry.value.splice(p.keep);
      entries.set(p.key, entry);
    }
    return true;
  }

  function ownedBy(key: string, token: string): Entry | undefined {
    const entry = live(key);
    return entry?.kind === 'string' && entry.value === token ? entry : undefined;
  }

  function createLock(key: string, token: string): Lock {
    return {
      key,
      token,
      release: () => reply(() => ownedBy(key, token) !== undefined && entries.delete(key)),
      extend: (ttlMs: number) =>
        reply(() => {
          assertTtlMs(ttlMs);
          const entry = ownedBy(key, token);
          if (entry) entry.expiresAt = now() + ttlMs;
          return entry !== undefined;
        }),
    };
  }

  return {
    get: (key) => reply(() => stringValue(key)),
    set: (key, value, o) => reply(() => set(key, value, o)),
    del: (...keys) => reply(() => keys.filter((key) => live(key) !== undefined && entries.delete(key)).length),
    compareAndSet: (key, expected, next, o: TtlOptions = {}) =>
      reply(() => {
        ttlArg(o.ttlMs);
        if (stringValue(key) !== expected) return false;
        return set(key, next, o);
      }),
    expire: (key, ttlMs) =>
      reply(() => {
        assertTtlMs(ttlMs);
        const entry = live(key);
        if (entry) entry.expiresAt = now() + ttlMs;
        return entry !== undefined;
      }),
    mget: (keys) =>
      reply(() =>
        keys.map((key) => {
          const entry = live(key);
          return entry?.kind === 'string' ? entry.value : null;
        }),
      ),
    readAndRenew: (keys, ttlMs) =>
      reply(() => {
        assertTtlMs(ttlMs);
        const found = keys.map((key) => typed(key, 'string'));
        for (const [i, entry] of found.entries()) if (entry) setTtl(keys[i] as string, ttlMs);
        return found.map((entry) => entry?.value ?? null);
      }),
    writeOnce: (writes) => reply(() => writeOnce(writes)),
    hincrby: (key, increments, o: TtlOptions = {}) =>
      reply(() => {
        ttlArg(o.ttlMs);
        const pairs = incrementPairs(increments);
        if (pairs.length === 0) return;
        const entry = typed(key, 'hash') ?? {
          kind: 'hash' as const,
          value: new Map<string, string>(),
          expiresAt: null,
        };
        for (const [field] of pairs) {
          const current = entry.value.get(field);
          if (current !== undefined && !INTEGER_RE.test(current))
            throw new RangeError('ERR hash value is not an integer');
        }
        for (const [field, by] of pairs) entry.value.set(field, String(Number(entry.value.get(field) ?? '0') + by));
        entries.set(key, entry);
        applyTtlIfNone(key, o.ttlMs);
      }),
    hgetall: (key) => reply(() => Object.fromEntries(typed(key, 'hash')?.value ?? [])),
    hset: (key, fields) =>
      reply(() => {
        const pairs = Object.entries(fields);
        if (pairs.length === 0) return 0;
        const entry = typed(key, 'hash') ?? {
          kind: 'hash' as const,
          value: new Map<string, string>(),
          expiresAt: null,
        };
        const added = pairs.filter(([field]) => !entry.value.has(field)).length;
        for (const [field, value] of pairs) entry.value.set(field, value);
        entries.set(key, entry);
        return added;
      }),
    sadd: (key, ...members) =>
      reply(() => {
        if (members.length === 0) return 0;
        const entry = typed(key, 'set') ?? { kind: 'set' as const, value: new Set<string>(), expiresAt: null };
        const before = entry.value.size;
        for (const member of members) entry.value.add(member);
        entries.set(key, entry);
        return entry.value.size - before;
      }),
    srem: (key, ...members) =>
      reply(() => {
        const entry = typed(key, 'set');
        if (!entry) return 0;
        const removed = members.filter((member) => entry.value.delete(member)).length;
        if (entry.value.size === 0) entries.delete(key);
        return removed;
      }),
    smembers: (key) => reply(() => [...(typed(key, 'set')?.value ?? [])]),
    lpush: (key, ...values) =>
      reply(() => {
        const entry = typed(key, 'list') ?? { kind: 'list' as const, value: [], expiresAt: null };
        if (values.length === 0) return entry.value.length;
        for (const value of values) entry.value.unshift(value);
        entries.set(key, entry);
        return entry.value.length;
      }),
    lrange: (key, start, stop) =>
      reply(() => {
        assertListIndex(start);
        assertListIndex(stop);
        return listSlice(typed(key, 'list')?.value ?? [], start, stop);
      }),
    incr: (key, o: TtlOptions = {}) =>
      reply(() => {
        ttlArg(o.ttlMs);
        const next = addToCounter(key, 1);
        applyTtlIfNone(key, o.ttlMs);
        return next;
      }),
    decr: (key) => reply(() => addToCounter(key, -1)),
    acquireLock: (key, ttlMs) =>
      reply(() => {
        assertTtlMs(ttlMs);
        const token = newLockToken();
        return set(key, token, { ttlMs, onlyIfAbsent: true }) ? createLock(key, token) : null;
      }),
    ping: () => Promise.resolve(),
    close: () => Promise.resolve(),
  };
}
