// The store contract against ioredis, @upstash/redis (through the REST emulator in front of the same Redis)
// and the in-memory twin, plus what only shows when both adapters share one Redis.
import { Redis as UpstashRedis } from '@upstash/redis';
import { Redis } from 'ioredis';
import {
  createMemoryStore,
  startUpstashEmulator,
  testRedisUrl,
  uniquePrefix,
  type UpstashEmulator,
} from '@switchyard/testkit';
import { describeStoreContract } from '@switchyard/testkit/store-contract';
import { createIoRedisClient, createIoRedisStore } from './ioredis-store.js';
import type { SharedStore } from './store.js';
import { createUpstashClient, createUpstashStore } from './upstash-store.js';

/** Deletes every key under the prefix with SCAN + DEL (never FLUSH*); resolves to how many remain. */
async function deleteByPrefix(prefix: string): Promise<number> {
  const admin = new Redis(testRedisUrl());
  try {
    let cursor = '0';
    do {
      const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
      if (keys.length > 0) await admin.del(...keys);
      cursor = next;
    } while (cursor !== '0');
    const [, left] = await admin.scan('0', 'MATCH', `${prefix}*`, 'COUNT', 10_000);
    return left.length;
  } finally {
    await admin.quit();
  }
}

describeStoreContract('memory', () =>
  Promise.resolve({ store: createMemoryStore(), cleanup: () => Promise.resolve() }),
);

describeStoreContract('ioredis', (prefix) => {
  const store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
  return Promise.resolve({
    store,
    cleanup: async () => {
      await deleteByPrefix(prefix);
      await store.close();
    },
  });
});

describeStoreContract('upstash', async (prefix) => {
  const emulator = await startUpstashEmulator({ redisUrl: testRedisUrl() });
  return {
    store: createUpstashStore(createUpstashClient(emulator)),
    cleanup: async () => {
      await deleteByPrefix(prefix);
      await emulator.stop();
    },
  };
});

describe('ioredis and upstash stores on one Redis', () => {
  const prefix = uniquePrefix('store-cross');
  const key = (label: string) => `${prefix}${label}`;
  let emulator: UpstashEmulator;
  let tcp: SharedStore;
  let rest: SharedStore;

  beforeAll(async () => {
    emulator = await startUpstashEmulator({ redisUrl: testRedisUrl() });
    tcp = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    rest = createUpstashStore(createUpstashClient(emulator));
  });
  afterAll(async () => {
    expect(await deleteByPrefix(prefix)).toBe(0);
    await tcp.close();
    await emulator.stop();
  });

  it('reads a credential record written by the other adapter byte-exact, and swaps it by compare-and-set', async () => {
    const record = JSON.stringify({ type: 'oauth', refresh: 'sk-ant-ort01-FAKE-1', access: 'å', expires: 1 });
    await tcp.set(key('cred'), record);
    await expect(rest.get(key('cred'))).resolves.toBe(record);
    const next = JSON.stringify({ type: 'oauth', refresh: 'sk-ant-ort01-FAKE-2', access: '日本', expires: 2 });
    await expect(rest.compareAndSet(key('cred'), record, next)).resolves.toBe(true);
    await expect(tcp.compareAndSet(key('cred'), record, 'stale')).resolves.toBe(false);
    await expect(tcp.get(key('cred'))).resolves.toBe(next);
  });

  it('shares locks and counters across adapters', async () => {
    const lock = await tcp.acquireLock(key('lock'), 60_000);
    await expect(rest.acquireLock(key('lock'), 60_000)).resolves.toBeNull();
    await expect(lock!.release()).resolves.toBe(true);
    await Promise.all([tcp.hincrby(key('h'), { n: 2 }), rest.hincrby(key('h'), { n: 3, m: 1 })]);
    await expect(tcp.hgetall(key('h'))).resolves.toEqual({ n: '5', m: '1' });
  });

  it('refuses a default @upstash/redis client that deserializes replies instead of corrupting values', async () => {
    const naive = createUpstashStore(
      new UpstashRedis({ url: emulator.url, token: emulator.token, responseEncoding: false }),
    );
    await tcp.set(key('naive'), '{"a":1}');
    await expect(naive.get(key('naive'))).rejects.toThrow(TypeError);
  });
});
