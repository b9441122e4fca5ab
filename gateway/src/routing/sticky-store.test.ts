import { createKeyspace, createNullLogger } from '@switchyard/shared';
import type { KeyValueStore } from '@switchyard/shared';
import { createMemoryStore } from '@switchyard/shared/testing';
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

  it('prefers the mapping in the shared store over its own', async () => {
    const store = createMemoryStore();
    const sticky = createStickyStore({ store, keys, log });
    sticky.remember('k1', HASH_A, 'node-a');
    await store.set(keys.sticky('k1', HASH_A), 'node-b');
    expect(await sticky.lookup('k1', HASH_A)).toBe('node-b');
  });
});
