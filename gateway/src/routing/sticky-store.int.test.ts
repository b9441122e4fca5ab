// The sticky store on a real Redis: shared between gateway instances, and bounded when Redis is gone.
import net from 'node:net';
import { createIoRedisClient, createIoRedisStore, createKeyspace, createNullLogger } from '@switchyard/shared';
import type { SharedStore } from '@switchyard/shared';
import { startRedisServer, testRedisUrl, uniquePrefix, waitFor } from '@switchyard/testkit';
import { Redis } from 'ioredis';
import { createStickyStore } from './sticky-store.js';

const log = createNullLogger();
const SESSION = 'd'.repeat(64);
const OTHER_SESSION = 'e'.repeat(64);

async function timed<T>(work: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = performance.now();
  const value = await work();
  return { value, ms: performance.now() - started };
}

/**
 * The answer, if it came before the event loop turned to I/O or timers: from the local map, without waiting
 * on Redis (however busy the machine). 'waited' otherwise.
 */
function atOnce<T>(work: Promise<T>): Promise<T | 'waited'> {
  return Promise.race([work, new Promise<'waited'>((resolve) => setImmediate(() => resolve('waited')))]);
}

// Far above the 50 ms lookup timeout and far below Redis never answering: room for a loaded machine.
const BOUNDED_MS = 10_000;

describe('sticky store on Redis', () => {
  const keys = createKeyspace(uniquePrefix('sticky'));
  let clientA: Redis;
  let clientB: Redis;
  let storeA: SharedStore;
  let storeB: SharedStore;

  beforeAll(() => {
    clientA = createIoRedisClient(testRedisUrl());
    clientB = createIoRedisClient(testRedisUrl());
    storeA = createIoRedisStore(clientA);
    storeB = createIoRedisStore(clientB);
  });

  afterEach(async () => {
    await storeA.del(keys.sticky('k1', SESSION), keys.sticky('k1', OTHER_SESSION), keys.sticky('k2', SESSION));
  });

  afterAll(async () => {
    await storeA.close();
    await storeB.close();
  });

  it('lets a second gateway instance find the node the first one remembered', async () => {
    const first = createStickyStore({ store: storeA, keys, log });
    const second = createStickyStore({ store: storeB, keys, log });
    expect(await second.lookup('k1', SESSION)).toBeUndefined();
    first.remember('k1', SESSION, 'node-b');
    expect(await waitFor('the mapping on the second instance', () => second.lookup('k1', SESSION))).toBe('node-b');
    // Another key's conversation with the same session hash is a different conversation.
    expect(await second.lookup('k2', SESSION)).toBeUndefined();
  });

  it('follows a conversation another instance moved, once its background read is due', async () => {
    const first = createStickyStore({ store: storeA, keys, log, revalidateAfterMs: 200 });
    const second = createStickyStore({ store: storeB, keys, log, revalidateAfterMs: 200 });
    first.remember('k1', SESSION, 'node-a');
    await waitFor('the second instance to see node-a', async () => (await second.lookup('k1', SESSION)) === 'node-a');
    second.remember('k1', SESSION, 'node-b');
    await waitFor(
      'the first instance to follow the move to node-b',
      async () => (await first.lookup('k1', SESSION)) === 'node-b',
    );
  });

  it('renews the TTL when the mapping is used again, at most every 1% of the TTL', async () => {
    const ttlMs = 600_000;
    let clock = Date.now();
    const sticky = createStickyStore({ store: storeA, keys, log, ttlMs, now: () => clock });
    const key = keys.sticky('k1', SESSION);
    sticky.remember('k1', SESSION, 'node-a');
    const fresh = await waitFor('the mapping written with its TTL', async () => {
      const ttl = await clientA.pttl(key);
      return ttl > 0 && ttl;
    });
    expect(fresh).toBeGreaterThan(ttlMs - 60_000);
    expect(fresh).toBeLessThanOrEqual(ttlMs);
    // The mapping ages: by hand, its TTL cut to a minute rather than waited for.
    await clientA.pexpire(key, 60_000);

    // Used again within 1% of the TTL: no write. (A write for another conversation, sent after it on the same
    // connection, has landed once it shows, so a renewal would have landed too.)
    clock += ttlMs / 100 - 1;
    sticky.remember('k1', SESSION, 'node-a');
    sticky.remember('k1', OTHER_SESSION, 'node-b');
    await waitFor(
      'the other conversation written',
      async () => (await clientA.get(keys.sticky('k1', OTHER_SESSION))) === 'node-b',
    );
    expect(await clientA.pttl(key)).toBeLessThanOrEqual(60_000);

    // Used again past it: the whole TTL again.
    clock += 1;
    sticky.remember('k1', SESSION, 'node-a');
    const renewed = await waitFor('the TTL renewed', async () => {
      const ttl = await clientA.pttl(key);
      return ttl > 60_000 && ttl;
    });
    expect(renewed).toBeGreaterThan(ttlMs - 60_000);
  });
});

describe('sticky store when Redis is unavailable', () => {
  it('answers from the local map within the timeout once Redis stops', async () => {
    const server = await startRedisServer();
    const keys = createKeyspace(uniquePrefix('sticky-outage'));
    const client = createIoRedisClient(server.url);
    const sticky = createStickyStore({ store: createIoRedisStore(client), keys, log, timeoutMs: 50 });
    let restarted: Awaited<ReturnType<typeof startRedisServer>> | undefined;
    try {
      sticky.remember('k1', SESSION, 'node-a');
      await waitFor('the mapping in Redis', async () => (await client.get(keys.sticky('k1', SESSION))) === 'node-a');
      await server.stop();

      expect(await atOnce(sticky.lookup('k1', SESSION))).toBe('node-a');
      // Conversations placed during the outage stick too.
      sticky.remember('k1', OTHER_SESSION, 'node-b');
      expect(await atOnce(sticky.lookup('k1', OTHER_SESSION))).toBe('node-b');
      const unknown = await timed(() => sticky.lookup('k2', SESSION));
      expect(unknown.value).toBeUndefined();
      expect(unknown.ms).toBeLessThan(BOUNDED_MS);

      // Redis is back (empty): after the back-off, every use writes the mapping again.
      restarted = await startRedisServer({ port: server.port });
      const key = keys.sticky('k1', OTHER_SESSION);
      await waitFor(
        'the mapping written again once Redis is back',
        async () => {
          sticky.remember('k1', OTHER_SESSION, 'node-b');
          return (await client.get(key).catch(() => null)) === 'node-b';
        },
        15_000,
      );
      await client.quit();
    } finally {
      // A connected client quits cleanly; disconnecting one that lost its server leaves ioredis's 2 s socket timer behind.
      if (client.status !== 'end') client.disconnect();
      await restarted?.stop();
    }
  });

  it('never waits longer than the timeout on a Redis that accepts but never answers', async () => {
    const sockets = new Set<net.Socket>();
    const blackHole = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const { port } = blackHole.address() as net.AddressInfo;
    // No ready check: the connection counts as up, so commands really are sent and left unanswered.
    const client = new Redis(port, '127.0.0.1', { enableReadyCheck: false, maxRetriesPerRequest: 2 });
    const sticky = createStickyStore({
      store: createIoRedisStore(client),
      keys: createKeyspace(uniquePrefix('sticky-hang')),
      log,
      timeoutMs: 50,
    });
    try {
      sticky.remember('k1', SESSION, 'node-a');
      // One it knows is answered from the local map without waiting.
      expect(await atOnce(sticky.lookup('k1', SESSION))).toBe('node-a');
      // A session this instance does not know waits for Redis, up to the timeout.
      const unknown = await timed(() => sticky.lookup('k1', OTHER_SESSION));
      expect(unknown.value).toBeUndefined();
      expect(unknown.ms).toBeGreaterThanOrEqual(45);
      expect(unknown.ms).toBeLessThan(BOUNDED_MS);
    } finally {
      client.disconnect();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => blackHole.close(resolve));
    }
  });
});
