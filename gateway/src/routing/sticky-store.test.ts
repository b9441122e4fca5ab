import { createKeyspace, createNullLogger } from '@switchyard/shared';
import type { KeyValueStore } from '@switchyard/shared';
import { createMemoryStore } from '@switchyard/testkit';
import { createStickyStore } from './sticky-store.js';

const keys = createKeyspace('sticky-unit:');
const log = createNullLogger();
const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);
const HASH_C = 'c'.repeat(64);

/** A store whose reads fail (as while Redis is down), counting what reached it. */
function brokenStore(): Pick<KeyValueStore, 'get' | 'set'> & { gets: number; sets: number } {
  const broken = {
    gets: 0,
    sets: 0,
    get: () => {
      broken.gets += 1;
      return Promise.reject(new Error('connection refused'));
    },
    set: () => {
      broken.sets += 1;
      return Promise.reject(new Error('connection refused'));
    },
  };
  return broken;
}

describe('sticky store (local side)', () => {
  it('forgets a local mapping after its TTL', async () => {
    let clock = 1_000_000;
    const now = () => clock;
    const sticky = createStickyStore({ store: brokenStore(), keys, log, ttlMs: 10_000, now });
    sticky.remember('k1', HASH_A, 'node-a');
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-a');
    clock += 10_001;
    expect(await sticky.lookup('k1', HASH_A)).toBeUndefined();
  });

  it('drops the least recently used mapping when the local map is full', async () => {
    const store = brokenStore();
    const sticky = createStickyStore({ store, keys, log, maxLocal: 2 });
    sticky.remember('k1', HASH_A, 'node-a');
    sticky.remember('k1', HASH_B, 'node-b');
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-a'); // A is now the most recent
    sticky.remember('k1', HASH_C, 'node-c');
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-a');
    expect(await sticky.lookup('k1', HASH_B)).toBeUndefined();
    expect(await sticky.lookup('k1', HASH_C)).toBe('node-c');
  });

  it('after a Redis failure answers locally without asking Redis until the back-off ends', async () => {
    let clock = 1_000_000;
    const store = brokenStore();
    const sticky = createStickyStore({ store, keys, log, backoffMs: 1000, now: () => clock });
    expect(await sticky.lookup('k1', HASH_A)).toBeUndefined();
    expect(store.gets).toBe(1);
    sticky.remember('k1', HASH_A, 'node-a');
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-a');
    expect([store.gets, store.sets]).toEqual([1, 0]);
    clock += 1000;
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-a');
    expect(store.gets).toBe(2);
  });

  it('keeps local stickiness for ids no Redis key can be built from', async () => {
    const store = createMemoryStore();
    const sticky = createStickyStore({ store, keys, log });
    sticky.remember('bad id', HASH_A, 'node-a');
    expect(await sticky.lookup('bad id', HASH_A)).toBe('node-a');
  });

  it('answers a session it knows at once, then follows the shared store once its background read is due', async () => {
    let clock = 1_000_000;
    const store = createMemoryStore();
    const sticky = createStickyStore({ store, keys, log, revalidateAfterMs: 1000, now: () => clock });
    sticky.remember('k1', HASH_A, 'node-a');
    await new Promise((r) => setImmediate(r));
    await store.set(keys.sticky('k1', HASH_A), 'node-b'); // another instance moved the conversation
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-a'); // confirmed by its own write just now
    clock += 1000;
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-a'); // served locally; Redis is read behind it
    await new Promise((r) => setImmediate(r));
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-b');
  });

  it('asks the shared store, and waits for it, only for a session it does not know', async () => {
    const store = createMemoryStore();
    await store.set(keys.sticky('k1', HASH_A), 'node-b');
    const sticky = createStickyStore({ store, keys, log });
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-b');
  });

  it('renews a mapping in the shared store at most every 1% of its TTL, and at once when it changes', () => {
    let clock = 1_000_000;
    const sets: string[] = [];
    const memory = createMemoryStore();
    const store: Pick<KeyValueStore, 'get' | 'set'> = {
      get: (k) => memory.get(k),
      set: (k, v, o) => {
        sets.push(v);
        return memory.set(k, v, o);
      },
    };
    const sticky = createStickyStore({ store, keys, log, ttlMs: 100_000, now: () => clock });
    sticky.remember('k1', HASH_A, 'node-a');
    clock += 999;
    sticky.remember('k1', HASH_A, 'node-a');
    expect(sets).toEqual(['node-a']);
    clock += 1;
    sticky.remember('k1', HASH_A, 'node-a');
    sticky.remember('k1', HASH_A, 'node-b');
    expect(sets).toEqual(['node-a', 'node-a', 'node-b']);
  });

  it('writes its mapping again once a background read finds the shared store lost it', async () => {
    let clock = 1_000_000;
    const memory = createMemoryStore();
    const sticky = createStickyStore({ store: memory, keys, log, now: () => clock });
    sticky.remember('k1', HASH_A, 'node-a');
    await new Promise((r) => setImmediate(r));
    await memory.del(keys.sticky('k1', HASH_A)); // e.g. Redis restarted empty
    clock += 5000;
    await sticky.lookup('k1', HASH_A);
    await new Promise((r) => setImmediate(r));
    sticky.remember('k1', HASH_A, 'node-a');
    await new Promise((r) => setImmediate(r));
    expect(await memory.get(keys.sticky('k1', HASH_A))).toBe('node-a');
  });
});
