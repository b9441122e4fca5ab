// The behaviour every SharedStore must show, run against ioredis, @upstash/redis and the in-memory twin
// (shared/src/redis/store.int.test.ts). Jest-only (it imports @jest/globals), so it is its own export,
// @switchyard/testkit/store-contract, and not part of the package root that scripts load outside jest.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { uniquePrefix } from './config.js';
import { waitFor } from './wait-for.js';
import type { SharedStore } from '@switchyard/shared';

/** A store for one contract run and how to dispose of it (delete its keys, close clients). */
export interface StoreUnderTest {
  store: SharedStore;
  cleanup: () => Promise<void>;
}

// The TTL of the expiry cases: long enough that a key written with it is still there for the next command, however
// loaded the machine (a case that writes a key twice relies on it), and short enough to wait out. Expiry is waited
// for by polling a key written after all the others of a case (so gone last), never by a fixed sleep.
const SHORT_TTL_MS = 1_000;
const LONG_TTL_MS = 3_600_000;

/** Writes a key with SHORT_TTL_MS after the case's other short-lived keys, and waits until it has expired. */
async function outlived(s: SharedStore, key: string): Promise<void> {
  await s.set(key, 'last', { ttlMs: SHORT_TTL_MS });
  await waitFor(`${key} to expire`, async () => (await s.get(key)) === null, { timeoutMs: 20_000, intervalMs: 50 });
}

/** Stored credential records are JSON and must survive byte for byte, however they look. */
const AWKWARD_VALUES = [
  JSON.stringify({
    type: 'oauth',
    refresh: 'sk-ant-ort01-FAKE-1',
    access: 'sk-ant-oat01-FAKE-2',
    expires: 1767225600000,
  }),
  JSON.stringify({ name: 'Zoë — 日本語 ✓ 🎉', note: 'line\u2028sep "quoted" \\ back', nested: '{"a":1}' }),
  '{ "spaced" :  1 }',
  '123',
  '1e3',
  'true',
  'null',
  '"quoted"',
  'abcd',
  '',
];

/**
 * Declares the SharedStore contract suite for one implementation. `makeStore` receives the key prefix the
 * suite will use (so its cleanup can SCAN + DEL it) and is called once, before the first case.
 */
export function describeStoreContract(name: string, makeStore: (prefix: string) => Promise<StoreUnderTest>): void {
  describe(`SharedStore contract: ${name}`, () => {
    const prefix = uniquePrefix(`store-${name}`);
    const key = (label: string) => `${prefix}${label}`;
    let sut: StoreUnderTest | undefined;
    const store = (): SharedStore => {
      if (!sut) throw new Error('store not created');
      return sut.store;
    };

    beforeAll(async () => {
      sut = await makeStore(prefix);
    });
    afterAll(async () => {
      await sut?.cleanup();
    });

    it('answers ping', async () => {
      await expect(store().ping()).resolves.toBeUndefined();
    });

    it('reads back what it wrote, and null for an absent key', async () => {
      const s = store();
      await expect(s.set(key('kv'), 'v1')).resolves.toBe(true);
      await expect(s.get(key('kv'))).resolves.toBe('v1');
      await expect(s.set(key('kv'), 'v2')).resolves.toBe(true);
      await expect(s.get(key('kv'))).resolves.toBe('v2');
      await expect(s.get(key('kv-absent'))).resolves.toBeNull();
    });

    it('writes with onlyIfAbsent only when the key is absent', async () => {
      const s = store();
      await expect(s.set(key('nx'), 'first', { onlyIfAbsent: true })).resolves.toBe(true);
      await expect(s.set(key('nx'), 'second', { onlyIfAbsent: true })).resolves.toBe(false);
      await expect(s.get(key('nx'))).resolves.toBe('first');
    });

    it('deletes keys of any type and counts those that existed', async () => {
      const s = store();
      await s.set(key('del-s'), 'x');
      await s.hset(key('del-h'), { f: '1' });
      await s.sadd(key('del-set'), 'm');
      await expect(s.del(key('del-s'), key('del-h'), key('del-set'), key('del-absent'))).resolves.toBe(3);
      await expect(s.get(key('del-s'))).resolves.toBeNull();
      await expect(s.hgetall(key('del-h'))).resolves.toEqual({});
      await expect(s.smembers(key('del-set'))).resolves.toEqual([]);
      await expect(s.del()).resolves.toBe(0);
    });

    it('mget returns values in key order, null for absent keys and non-strings', async () => {
      const s = store();
      await s.set(key('mg-a'), 'A');
      await s.set(key('mg-b'), 'B');
      await s.sadd(key('mg-set'), 'm');
      const got = await s.mget([key('mg-b'), key('mg-absent'), key('mg-a'), key('mg-set')]);
      expect(got).toEqual(['B', null, 'A', null]);
      await expect(s.mget([])).resolves.toEqual([]);
    });

    it('compareAndSet writes only when the current value is the expected one', async () => {
      const s = store();
      await s.set(key('cas'), 'v1');
      await expect(s.compareAndSet(key('cas'), 'v0', 'lost')).resolves.toBe(false);
      await expect(s.get(key('cas'))).resolves.toBe('v1');
      await expect(s.compareAndSet(key('cas'), null, 'lost')).resolves.toBe(false);
      await expect(s.get(key('cas'))).resolves.toBe('v1');
      await expect(s.compareAndSet(key('cas'), 'v1', 'v2')).resolves.toBe(true);
      await expect(s.get(key('cas'))).resolves.toBe('v2');
    });

    it('compareAndSet with expected null writes only when the key is absent', async () => {
      const s = store();
      await expect(s.compareAndSet(key('cas-new'), null, 'first')).resolves.toBe(true);
      await expect(s.compareAndSet(key('cas-new'), null, 'second')).resolves.toBe(false);
      await expect(s.get(key('cas-new'))).resolves.toBe('first');
    });

    it('lets exactly one of 20 concurrent compareAndSet callers win', async () => {
      const s = store();
      await s.set(key('cas-race'), 'v0');
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.compareAndSet(key('cas-race'), 'v0', `v-${i}`)),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      await expect(s.get(key('cas-race'))).resolves.toBe(`v-${results.indexOf(true)}`);

      const fresh = await Promise.all(
        Array.from({ length: 20 }, (_, i) => s.compareAndSet(key('cas-race-new'), null, `n-${i}`)),
      );
      expect(fresh.filter(Boolean)).toHaveLength(1);
      await expect(s.get(key('cas-race-new'))).resolves.toBe(`n-${fresh.indexOf(true)}`);
    });

    it('hincrby adds to several fields at once; hgetall reads them', async () => {
      const s = store();
      await s.hincrby(key('h'), { input: 10, output: 5 });
      await s.hincrby(key('h'), { input: 1, output: -2, cache_read: 7 });
      await s.hincrby(key('h'), {});
      await expect(s.hgetall(key('h'))).resolves.toEqual({ input: '11', output: '3', cache_read: '7' });
      await expect(s.hgetall(key('h-absent'))).resolves.toEqual({});
    });

    it('sums 50 concurrent hincrby calls exactly', async () => {
      const s = store();
      await Promise.all(
        Array.from({ length: 50 }, () => s.hincrby(key('h-race'), { requests: 1, tokens: 3 }, { ttlMs: LONG_TTL_MS })),
      );
      await expect(s.hgetall(key('h-race'))).resolves.toEqual({ requests: '50', tokens: '150' });
    });

    it('hset writes fields, keeps the others and counts the new ones', async () => {
      const s = store();
      await expect(s.hset(key('hs'), { a: '1', b: '2' })).resolves.toBe(2);
      await expect(s.hset(key('hs'), { b: '3', c: '4' })).resolves.toBe(1);
      await expect(s.hset(key('hs'), {})).resolves.toBe(0);
      await expect(s.hgetall(key('hs'))).resolves.toEqual({ a: '1', b: '3', c: '4' });
    });

    it('adds, removes and lists set members', async () => {
      const s = store();
      await expect(s.sadd(key('set'), 'a', 'b', 'a')).resolves.toBe(2);
      await expect(s.sadd(key('set'), 'b', 'c')).resolves.toBe(1);
      await expect(s.srem(key('set'), 'a', 'zzz')).resolves.toBe(1);
      await expect(s.smembers(key('set')).then((m) => m.sort())).resolves.toEqual(['b', 'c']);
      await expect(s.srem(key('set'), 'b', 'c')).resolves.toBe(2);
      await expect(s.smembers(key('set'))).resolves.toEqual([]);
      await expect(s.smembers(key('set-absent'))).resolves.toEqual([]);
    });

    it('lpush pushes onto the head; lrange reads ranges as LRANGE does', async () => {
      const s = store();
      await expect(s.lpush(key('list'), 'a', 'b')).resolves.toBe(2);
      await expect(s.lpush(key('list'), 'c')).resolves.toBe(3);
      await expect(s.lpush(key('list'))).resolves.toBe(3);
      await expect(s.lrange(key('list'), 0, -1)).resolves.toEqual(['c', 'b', 'a']);
      await expect(s.lrange(key('list'), 0, 1)).resolves.toEqual(['c', 'b']);
      await expect(s.lrange(key('list'), 1, 99)).resolves.toEqual(['b', 'a']);
      await expect(s.lrange(key('list'), -2, -1)).resolves.toEqual(['b', 'a']);
      await expect(s.lrange(key('list'), -99, 0)).resolves.toEqual(['c']);
      await expect(s.lrange(key('list'), 2, 1)).resolves.toEqual([]);
      await expect(s.lrange(key('list'), 5, 9)).resolves.toEqual([]);
      await expect(s.lrange(key('list-absent'), 0, -1)).resolves.toEqual([]);
      await expect(s.lrange(key('list'), 0, 1.5)).rejects.toThrow(RangeError);
      await s.lpush(key('list-json'), ...AWKWARD_VALUES);
      await expect(s.lrange(key('list-json'), 0, -1)).resolves.toEqual([...AWKWARD_VALUES].reverse());
      await expect(s.mget([key('list')])).resolves.toEqual([null]);
      await expect(s.del(key('list'))).resolves.toBe(1);
      await expect(s.lrange(key('list'), 0, -1)).resolves.toEqual([]);
    });

    it('incr counts up from 1 and decr counts down, also from an absent key', async () => {
      const s = store();
      await expect(s.incr(key('n'))).resolves.toBe(1);
      await expect(s.incr(key('n'), { ttlMs: LONG_TTL_MS })).resolves.toBe(2);
      await expect(s.decr(key('n'))).resolves.toBe(1);
      await expect(s.decr(key('n-absent'))).resolves.toBe(-1);
      const many = await Promise.all(Array.from({ length: 30 }, () => s.incr(key('n-race'))));
      expect([...many].sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i + 1));
    });

    it('expires keys by TTL; a TTL from incr and hincrby is set once and never slides', async () => {
      const s = store();
      await s.set(key('ttl-set'), 'x', { ttlMs: SHORT_TTL_MS });
      await s.set(key('ttl-long'), 'x', { ttlMs: LONG_TTL_MS });
      await s.set(key('ttl-none'), 'x');
      await s.set(key('ttl-cleared'), 'x', { ttlMs: SHORT_TTL_MS });
      await s.set(key('ttl-cleared'), 'y');
      await s.compareAndSet(key('ttl-cas'), null, 'x', { ttlMs: SHORT_TTL_MS });
      await s.incr(key('ttl-incr'), { ttlMs: SHORT_TTL_MS });
      await s.incr(key('ttl-incr'), { ttlMs: LONG_TTL_MS });
      await s.hincrby(key('ttl-h'), { n: 1 }, { ttlMs: SHORT_TTL_MS });
      await s.hincrby(key('ttl-h'), { n: 1 }, { ttlMs: LONG_TTL_MS });
      await s.set(key('ttl-expire'), 'x');
      await expect(s.expire(key('ttl-expire'), SHORT_TTL_MS)).resolves.toBe(true);
      await expect(s.expire(key('ttl-absent'), SHORT_TTL_MS)).resolves.toBe(false);

      await outlived(s, key('ttl-last'));

      const strings = await s.mget(
        ['ttl-set', 'ttl-long', 'ttl-none', 'ttl-cleared', 'ttl-cas', 'ttl-incr', 'ttl-expire'].map(key),
      );
      expect(strings).toEqual([null, 'x', 'x', 'y', null, null, null]);
      await expect(s.hgetall(key('ttl-h'))).resolves.toEqual({});
      await expect(s.incr(key('ttl-incr'))).resolves.toBe(1);
    });

    it('rejects TTLs and increments Redis would reject, before writing', async () => {
      const s = store();
      await expect(s.set(key('bad'), 'x', { ttlMs: 0 })).rejects.toThrow(RangeError);
      await expect(s.set(key('bad'), 'x', { ttlMs: 1.5 })).rejects.toThrow(RangeError);
      await expect(s.expire(key('bad'), -1)).rejects.toThrow(RangeError);
      await expect(s.acquireLock(key('bad'), 0)).rejects.toThrow(RangeError);
      await expect(s.hincrby(key('bad'), { a: 0.5 })).rejects.toThrow(RangeError);
      await expect(s.get(key('bad'))).resolves.toBeNull();
    });

    it('rejects an operation on a key of the wrong type and leaves it intact', async () => {
      const s = store();
      await s.hset(key('wrong'), { f: 'v' });
      await expect(s.get(key('wrong'))).rejects.toThrow();
      await expect(s.incr(key('wrong'))).rejects.toThrow();
      await s.set(key('wrong-str'), 'not a number');
      await expect(s.incr(key('wrong-str'))).rejects.toThrow();
      await expect(s.lrange(key('wrong'), 0, -1)).rejects.toThrow();
      await expect(s.lpush(key('wrong-str'), 'x')).rejects.toThrow();
      await expect(s.hgetall(key('wrong'))).resolves.toEqual({ f: 'v' });
      await expect(s.get(key('wrong-str'))).resolves.toBe('not a number');
    });

    it('round-trips JSON and JSON-looking strings byte-exact through every read path', async () => {
      const s = store();
      const keys = AWKWARD_VALUES.map((_, i) => key(`json-${i}`));
      for (const [i, value] of AWKWARD_VALUES.entries()) {
        await s.set(keys[i]!, value);
        await expect(s.get(keys[i]!)).resolves.toBe(value);
      }
      await expect(s.mget(keys)).resolves.toEqual(AWKWARD_VALUES);
      const fields = Object.fromEntries(AWKWARD_VALUES.map((v, i) => [`f${i}`, v]));
      await s.hset(key('json-h'), fields);
      await expect(s.hgetall(key('json-h'))).resolves.toEqual(fields);
      await s.sadd(key('json-set'), ...AWKWARD_VALUES);
      await expect(s.smembers(key('json-set')).then((m) => m.sort())).resolves.toEqual([...AWKWARD_VALUES].sort());
      const [record, unicode] = AWKWARD_VALUES as [string, string];
      await expect(s.compareAndSet(keys[0]!, record, unicode)).resolves.toBe(true);
      await expect(s.get(keys[0]!)).resolves.toBe(unicode);
    });

    it('readAndRenew reads values in key order and gives each present key the TTL; absent keys stay absent', async () => {
      const s = store();
      await s.set(key('rr-a'), 'a');
      await s.set(key('rr-b'), 'b', { ttlMs: LONG_TTL_MS });
      await expect(s.readAndRenew([key('rr-b'), key('rr-absent'), key('rr-a')], SHORT_TTL_MS)).resolves.toEqual([
        'b',
        null,
        'a',
      ]);
      await expect(s.readAndRenew([], SHORT_TTL_MS)).resolves.toEqual([]);

      await outlived(s, key('rr-last'));

      await expect(s.mget([key('rr-a'), key('rr-b'), key('rr-absent')])).resolves.toEqual([null, null, null]);
      await expect(s.readAndRenew([key('rr-a')], 0)).rejects.toThrow(RangeError);
      await s.hset(key('rr-hash'), { f: 'v' });
      await expect(s.readAndRenew([key('rr-hash')], LONG_TTL_MS)).rejects.toThrow();
    });

    it('writeOnce makes every write once per marker; a repeat makes only the always-writes', async () => {
      const s = store();
      const once = (value: string, marker = 'once-marker') =>
        s.writeOnce({
          marker: { key: key(marker), ttlMs: LONG_TTL_MS },
          increments: [
            { key: key('once-h'), by: { requests: 1, tokens: 40 }, ttlMs: LONG_TTL_MS },
            { key: key('once-total'), by: { requests: 1 } },
          ],
          members: [{ key: key('once-set'), member: 'key-1', ttlMs: LONG_TTL_MS }],
          pushes: [{ key: key('once-list'), value, keep: 2 }],
          always: [
            { key: key('once-always'), value, ttlMs: LONG_TTL_MS },
            { key: key('once-renewed'), ttlMs: LONG_TTL_MS },
            { key: key('once-absent'), ttlMs: LONG_TTL_MS },
          ],
        });
      await s.set(key('once-renewed'), 'kept');
      await expect(once('first')).resolves.toBe(true);
      await expect(once('again')).resolves.toBe(false);
      await expect(s.hgetall(key('once-h'))).resolves.toEqual({ requests: '1', tokens: '40' });
      await expect(s.hgetall(key('once-total'))).resolves.toEqual({ requests: '1' });
      await expect(s.smembers(key('once-set'))).resolves.toEqual(['key-1']);
      await expect(s.lrange(key('once-list'), 0, -1)).resolves.toEqual(['first']);
      // The always-writes were made both times; a TTL alone neither creates a key nor changes a value.
      await expect(s.mget([key('once-always'), key('once-renewed'), key('once-absent')])).resolves.toEqual([
        'again',
        'kept',
        null,
      ]);

      // Other markers count again; the list keeps its newest two.
      await expect(once('second', 'once-marker-2')).resolves.toBe(true);
      await expect(once('third', 'once-marker-3')).resolves.toBe(true);
      await expect(s.hgetall(key('once-h'))).resolves.toEqual({ requests: '3', tokens: '120' });
      await expect(s.lrange(key('once-list'), 0, -1)).resolves.toEqual(['third', 'second']);
    });

    it('writeOnce counts exactly once among 20 concurrent deliveries of one event', async () => {
      const s = store();
      const results = await Promise.all(
        Array.from({ length: 20 }, () =>
          s.writeOnce({
            marker: { key: key('once-race'), ttlMs: LONG_TTL_MS },
            increments: [{ key: key('once-race-h'), by: { n: 1 } }],
          }),
        ),
      );
      expect(results.filter(Boolean)).toHaveLength(1);
      await expect(s.hgetall(key('once-race-h'))).resolves.toEqual({ n: '1' });
    });

    it("writeOnce's TTLs: the marker lets the event count again after it, each write sets its key's TTL", async () => {
      const s = store();
      const event = {
        marker: { key: key('once-ttl'), ttlMs: SHORT_TTL_MS },
        increments: [
          { key: key('once-ttl-h'), by: { n: 1 }, ttlMs: SHORT_TTL_MS },
          { key: key('once-ttl-forever'), by: { n: 1 } },
        ],
        members: [{ key: key('once-ttl-set'), member: 'm', ttlMs: SHORT_TTL_MS }],
        always: [{ key: key('once-ttl-always'), value: 'v', ttlMs: SHORT_TTL_MS }],
      };
      await expect(s.writeOnce(event)).resolves.toBe(true);

      await outlived(s, key('once-ttl-last'));

      await expect(s.hgetall(key('once-ttl-h'))).resolves.toEqual({});
      await expect(s.smembers(key('once-ttl-set'))).resolves.toEqual([]);
      await expect(s.get(key('once-ttl-always'))).resolves.toBeNull();
      await expect(s.writeOnce(event)).resolves.toBe(true);
      await expect(s.hgetall(key('once-ttl-forever'))).resolves.toEqual({ n: '2' });
    });

    it('writeOnce refuses, before writing anything, what Redis would refuse', async () => {
      const s = store();
      const marker = { key: key('once-bad'), ttlMs: LONG_TTL_MS };
      await expect(s.writeOnce({ marker: { key: key('once-bad'), ttlMs: 0 } })).rejects.toThrow(RangeError);
      await expect(s.writeOnce({ marker, increments: [{ key: key('once-bad-h'), by: { n: 0.5 } }] })).rejects.toThrow(
        RangeError,
      );
      await expect(s.writeOnce({ marker, pushes: [{ key: key('once-bad-l'), value: 'v', keep: 0 }] })).rejects.toThrow(
        RangeError,
      );
      await expect(
        s.writeOnce({ marker, always: [{ key: key('once-bad-a'), value: 'v', ttlMs: -1 }] }),
      ).rejects.toThrow(RangeError);
      await expect(s.mget([key('once-bad'), key('once-bad-a')])).resolves.toEqual([null, null]);
      await expect(s.writeOnce({ marker })).resolves.toBe(true);
    });

    it('holds a lock for one owner until it is released', async () => {
      const s = store();
      const lock = await s.acquireLock(key('lock'), LONG_TTL_MS);
      expect(lock).not.toBeNull();
      expect(lock!.key).toBe(key('lock'));
      expect(lock!.token.length).toBeGreaterThanOrEqual(16);
      await expect(s.acquireLock(key('lock'), LONG_TTL_MS)).resolves.toBeNull();
      await expect(lock!.release()).resolves.toBe(true);
      await expect(lock!.release()).resolves.toBe(false);
      const next = await s.acquireLock(key('lock'), LONG_TTL_MS);
      expect(next?.token).not.toBe(lock!.token);
      await expect(next!.release()).resolves.toBe(true);
    });

    it('gives a contended lock to exactly one of 20 concurrent callers', async () => {
      const s = store();
      const locks = await Promise.all(Array.from({ length: 20 }, () => s.acquireLock(key('lock-race'), LONG_TTL_MS)));
      const held = locks.filter((l) => l !== null);
      expect(held).toHaveLength(1);
      await expect(held[0]!.release()).resolves.toBe(true);
    });

    it('frees an expired lock; the old owner can neither release nor extend the new one; extend keeps a lock', async () => {
      const s = store();
      const stale = await s.acquireLock(key('lock-exp'), SHORT_TTL_MS);
      const kept = await s.acquireLock(key('lock-kept'), SHORT_TTL_MS);
      await expect(kept!.extend(LONG_TTL_MS)).resolves.toBe(true);

      await outlived(s, key('lock-last'));

      await expect(s.acquireLock(key('lock-kept'), LONG_TTL_MS)).resolves.toBeNull();
      const owner = await s.acquireLock(key('lock-exp'), LONG_TTL_MS);
      expect(owner).not.toBeNull();
      // The stale handle's token differs from the new owner's: it must not touch the new lock.
      await expect(stale!.release()).resolves.toBe(false);
      await expect(stale!.extend(LONG_TTL_MS)).resolves.toBe(false);
      await expect(s.acquireLock(key('lock-exp'), LONG_TTL_MS)).resolves.toBeNull();
      await expect(owner!.release()).resolves.toBe(true);
      await expect(kept!.release()).resolves.toBe(true);
    });
  });
}
