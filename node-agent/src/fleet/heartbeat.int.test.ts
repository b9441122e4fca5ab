// The heartbeat on a real Redis: the node appears, stays while it beats, drops out by itself when it stops,
// leaves at once on leave(), and rides out a Redis outage with one warning.
import { PassThrough } from 'node:stream';
import { createIoRedisClient, createIoRedisStore, createKeyspace, createLogger, initialAccountState, readNodeRecords } from '@switchyard/shared';
import type { AccountStatus, NodeRecord, SharedStore } from '@switchyard/shared';
import { startRedisServer, testRedisUrl, uniquePrefix } from '@switchyard/shared/testing';
import type { Redis } from 'ioredis';
import { createHeartbeat } from './heartbeat.js';

function captureLog() {
  const stream = new PassThrough();
  let output = '';
  stream.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const lines = () =>
    output
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { message: string; level: string } & Record<string, unknown>);
  return { log: createLogger({ service: 'test', level: 'debug', stream }), lines };
}

const startedAt = Date.now();
function recordOf(nodeId: string, state: AccountStatus = 'available'): NodeRecord {
  const now = Date.now();
  return {
    nodeId,
    url: `http://${nodeId}:8090`,
    accountKind: 'oauth',
    accountLabel: 'someone@example.com',
    state: { ...initialAccountState(now), state },
    inFlight: 1,
    version: '0.1.0',
    gitSha: 'abc1234',
    startedAt,
    heartbeatAt: now,
  };
}

async function until(check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('heartbeat on the test Redis', () => {
  const keys = createKeyspace(uniquePrefix('heartbeat'));
  let client: Redis;
  let store: SharedStore;
  const listed = async () => (await readNodeRecords(store, keys)).map((r) => r.nodeId);

  beforeAll(() => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(client);
  });

  afterAll(async () => {
    await store.del(keys.nodes(), keys.node('node-a'), keys.node('node-b'), keys.node('node-c'));
    await store.close();
  });

  test('the entry appears with a TTL of 3 intervals and is renewed by every beat', async () => {
    const heartbeat = createHeartbeat({ store, keys, intervalMs: 100, record: () => recordOf('node-a'), log: captureLog().log });
    heartbeat.start();
    await until(async () => (await listed()).includes('node-a'), 5_000);
    const ttl = await client.pttl(keys.node('node-a'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(300);
    const first = (await readNodeRecords(store, keys)).find((r) => r.nodeId === 'node-a')?.heartbeatAt ?? 0;
    // Outlives its first TTL because the beats keep it alive.
    await new Promise((r) => setTimeout(r, 600));
    const later = (await readNodeRecords(store, keys)).find((r) => r.nodeId === 'node-a');
    expect(later?.heartbeatAt).toBeGreaterThan(first);
    await heartbeat.leave();
  });

  test('a node that stops heartbeating drops out of the fleet by itself', async () => {
    const heartbeat = createHeartbeat({ store, keys, intervalMs: 100, record: () => recordOf('node-b'), log: captureLog().log });
    heartbeat.start();
    await until(async () => (await listed()).includes('node-b'), 5_000);
    heartbeat.stop();
    await until(async () => !(await listed()).includes('node-b'), 5_000);
    expect(await store.smembers(keys.nodes())).not.toContain('node-b');
  });

  test('leave() removes the entry at once, well before its TTL', async () => {
    const { log, lines } = captureLog();
    const heartbeat = createHeartbeat({ store, keys, intervalMs: 10_000, record: () => recordOf('node-c', 'draining'), log });
    await heartbeat.beatNow();
    expect(await listed()).toContain('node-c');
    await heartbeat.leave();
    expect(await listed()).not.toContain('node-c');
    expect(await client.exists(keys.node('node-c'))).toBe(0);
    expect(lines().map((l) => l.message)).toEqual(['left the registry']);
  });
});

describe('heartbeat through a Redis outage', () => {
  test('one warning for the whole outage, then the node is back in the registry', async () => {
    const server = await startRedisServer();
    const keys = createKeyspace(uniquePrefix('outage'));
    const store = createIoRedisStore(createIoRedisClient(server.url));
    const { log, lines } = captureLog();
    const heartbeat = createHeartbeat({ store, keys, intervalMs: 50, record: () => recordOf('node-o'), log });
    let restarted: Awaited<ReturnType<typeof startRedisServer>> | undefined;
    try {
      heartbeat.start();
      await until(async () => (await readNodeRecords(store, keys)).length === 1, 5_000);
      await server.stop();
      // Long enough for many failed beats.
      await until(() => Promise.resolve(lines().some((l) => l.message === 'heartbeat failed')), 10_000);
      await new Promise((r) => setTimeout(r, 1_000));
      restarted = await startRedisServer({ port: server.port });
      await until(() => Promise.resolve(lines().some((l) => l.message === 'heartbeat restored')), 15_000);
      // A fresh server: the entry is there again only because the heartbeat rewrote it.
      expect(await readNodeRecords(store, keys)).toHaveLength(1);
      const logged = lines().map((l) => [l.level, l.message]);
      expect(logged).toEqual([
        ['warn', 'heartbeat failed'],
        ['info', 'heartbeat restored'],
      ]);
      expect(lines()[1]?.failedBeats).toBeGreaterThan(1);
    } finally {
      await heartbeat.leave();
      await store.close();
      await restarted?.stop();
    }
  });
});
