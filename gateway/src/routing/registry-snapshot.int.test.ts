// The registry snapshot against a real Redis, with node entries published the way node agents publish them.
import type { IncomingHttpHeaders } from 'node:http';
import { createIoRedisClient, createIoRedisStore, createKeyspace, createNullLogger, initialAccountState, writeNodeRecord } from '@switchyard/shared';
import type { NodeRecord, SharedStore } from '@switchyard/shared';
import {
  FAKE_MODEL,
  createFakeAnthropic,
  fakeMessagesBody,
  fakeOAuthHeaders,
  postFakeMessages,
  startRedisServer,
  testRedisUrl,
  uniquePrefix,
} from '@switchyard/shared/testing';
import type { FakeAnthropic, Fault } from '@switchyard/shared/testing';
import { chooseNodes } from './choose-nodes.js';
import { createRegistrySnapshot } from './registry-snapshot.js';
import type { RegistrySnapshot } from './types.js';

const OPUS = 'claude-opus-4-5-20251101';
const log = createNullLogger();

function record(nodeId: string, over: Partial<NodeRecord> = {}): NodeRecord {
  const now = Date.now();
  return {
    nodeId,
    url: `http://127.0.0.1:9/${nodeId}`,
    accountKind: 'oauth',
    state: initialAccountState(now),
    inFlight: 0,
    version: '0.1.0',
    gitSha: 'abc1234',
    startedAt: now,
    heartbeatAt: now,
    ...over,
  };
}

function pick(registry: RegistrySnapshot, model: string | undefined = FAKE_MODEL): string[] {
  const choice = chooseNodes(registry.nodes(), { model, nowMs: Date.now(), inFlight: () => 0, random: () => 0 });
  return choice.ok ? choice.order.map((n) => n.record.nodeId) : [`error:${choice.error.status}`];
}

async function eventually(check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function upstreamAnswer(fake: FakeAnthropic, fault: Fault | undefined, model = FAKE_MODEL): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  if (fault) fake.inject(fault);
  const res = await postFakeMessages(fake.url, fakeOAuthHeaders(fake.issueAccessToken('acct-1')), fakeMessagesBody({ model }));
  await res.arrayBuffer();
  return { status: res.status, headers: Object.fromEntries(res.headers) };
}

describe('registry snapshot on Redis', () => {
  const keys = createKeyspace(uniquePrefix('registry'));
  const ids = ['node-a', 'node-b', 'node-c'];
  let store: SharedStore;
  let fake: FakeAnthropic;

  beforeAll(async () => {
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    fake = createFakeAnthropic({ accounts: [{ id: 'acct-1' }] });
    await fake.start();
  });

  afterEach(async () => {
    fake.clearFaults();
    await store.del(keys.nodes(), ...ids.flatMap((id) => [keys.node(id), keys.nodeControl(id)]));
  });

  afterAll(async () => {
    await fake.stop();
    await store.close();
  });

  it('lists the published nodes and follows the drain flag', async () => {
    await writeNodeRecord(store, keys, record('node-a'), 30_000);
    await writeNodeRecord(store, keys, record('node-b'), 30_000);
    const registry = createRegistrySnapshot({ store, keys, log });
    expect(registry.nodes()).toEqual([]);
    await registry.refreshNow();
    expect(registry.redisHealthy()).toBe(true);
    expect(registry.nodes().map((n) => [n.record.nodeId, n.adminDrained])).toEqual([['node-a', false], ['node-b', false]]);

    await store.set(keys.nodeControl('node-a'), '{"drained":true}');
    await registry.refreshNow();
    expect(registry.nodes().find((n) => n.record.nodeId === 'node-a')?.adminDrained).toBe(true);
    expect(pick(registry)).toEqual(['node-b']);

    await store.del(keys.nodeControl('node-a'));
    await registry.refreshNow();
    expect(pick(registry)).toEqual(['node-a', 'node-b']);
  });

  it('drops a node whose entry expired', async () => {
    await writeNodeRecord(store, keys, record('node-a'), 30_000);
    await writeNodeRecord(store, keys, record('node-c'), 300);
    const registry = createRegistrySnapshot({ store, keys, log, intervalMs: 50 });
    registry.start();
    try {
      await eventually(() => registry.nodes().length === 2);
      await eventually(() => registry.nodes().length === 1);
      expect(registry.nodes().map((n) => n.record.nodeId)).toEqual(['node-a']);
    } finally {
      registry.stop();
    }
  });

  it('benches a node at once on a 429 that rejects its window, before its next heartbeat', async () => {
    await writeNodeRecord(store, keys, record('node-a'), 30_000);
    await writeNodeRecord(store, keys, record('node-b'), 30_000);
    const registry = createRegistrySnapshot({ store, keys, log });
    await registry.refreshNow();

    const answer = await upstreamAnswer(fake, { kind: 'rate_limit', resetInSec: 3600 });
    expect(answer.status).toBe(429);
    registry.observe('node-a', answer.status, answer.headers, FAKE_MODEL);

    const a = registry.nodes().find((n) => n.record.nodeId === 'node-a');
    expect(a?.localState?.state).toBe('limited');
    expect(a?.localState?.limitedUntil).toBeGreaterThan(Date.now() + 3_500_000);
    expect(pick(registry)).toEqual(['node-b']);
    // Still benched after a refresh that brings the same (older) heartbeat.
    await registry.refreshNow();
    expect(pick(registry)).toEqual(['node-b']);
  });

  it('does not bench a node for a request-scoped 429', async () => {
    await writeNodeRecord(store, keys, record('node-a'), 30_000);
    const registry = createRegistrySnapshot({ store, keys, log });
    await registry.refreshNow();
    const answer = await upstreamAnswer(fake, { kind: 'request_429', retryAfterSec: 5 });
    expect(answer.status).toBe(429);
    registry.observe('node-a', answer.status, answer.headers, FAKE_MODEL);
    expect(pick(registry)).toEqual(['node-a']);
  });

  it('benches a node for one model family only when the 429 rejects that family', async () => {
    await writeNodeRecord(store, keys, record('node-a'), 30_000);
    await writeNodeRecord(store, keys, record('node-b'), 30_000);
    const registry = createRegistrySnapshot({ store, keys, log });
    await registry.refreshNow();
    const answer = await upstreamAnswer(fake, { kind: 'rate_limit', modelFamily: 'opus', match: { model: 'opus' } }, OPUS);
    expect(answer.status).toBe(429);
    registry.observe('node-a', answer.status, answer.headers, OPUS);
    expect(pick(registry, OPUS)).toEqual(['node-b']);
    expect(pick(registry, FAKE_MODEL).sort()).toEqual(['node-a', 'node-b']);
  });

  it('lets a newer heartbeat replace what a response taught, once the grace period has passed', async () => {
    await writeNodeRecord(store, keys, record('node-a', { heartbeatAt: Date.now() - 1000 }), 30_000);
    const registry = createRegistrySnapshot({ store, keys, log, observationGraceMs: 0 });
    await registry.refreshNow();
    const answer = await upstreamAnswer(fake, { kind: 'rate_limit', resetInSec: 3600 });
    registry.observe('node-a', answer.status, answer.headers, FAKE_MODEL);
    expect(pick(registry)).toEqual(['error:429']);
    // The node's own beat says the account is fine (e.g. an operator switched it): the node knows best.
    await writeNodeRecord(store, keys, record('node-a'), 30_000);
    await registry.refreshNow();
    expect(registry.nodes()[0]?.localState).toBeUndefined();
    expect(pick(registry)).toEqual(['node-a']);
  });

  it('follows a node that starts draining even while its responses keep arriving', async () => {
    await writeNodeRecord(store, keys, record('node-a', { heartbeatAt: Date.now() - 1000 }), 30_000);
    await writeNodeRecord(store, keys, record('node-b'), 30_000);
    const registry = createRegistrySnapshot({ store, keys, log });
    await registry.refreshNow();
    const ok = await upstreamAnswer(fake, undefined);
    expect(ok.status).toBe(200);
    registry.observe('node-a', ok.status, ok.headers, FAKE_MODEL);
    expect(registry.nodes()[0]?.localState).toBeDefined();

    await writeNodeRecord(store, keys, record('node-a', { state: { ...initialAccountState(Date.now()), state: 'draining' } }), 30_000);
    await registry.refreshNow();
    registry.observe('node-a', ok.status, ok.headers, FAKE_MODEL);
    expect(pick(registry)).toEqual(['node-b']);
  });

  it('keeps an unreachable node out for its cool-down, and takes it back after', async () => {
    await writeNodeRecord(store, keys, record('node-a'), 30_000);
    await writeNodeRecord(store, keys, record('node-b'), 30_000);
    const registry = createRegistrySnapshot({ store, keys, log, unreachableCooldownMs: 300 });
    await registry.refreshNow();
    registry.markUnreachable('node-a');
    expect(pick(registry)).toEqual(['node-b']);
    await new Promise((r) => setTimeout(r, 400));
    expect(pick(registry)).toEqual(['node-a', 'node-b']);
  });
});

describe('registry snapshot when Redis stops', () => {
  it('keeps serving the last snapshot, reports the outage, and recovers', async () => {
    const server = await startRedisServer();
    const keys = createKeyspace(uniquePrefix('registry-outage'));
    const client = createIoRedisClient(server.url);
    const store = createIoRedisStore(client);
    const registry = createRegistrySnapshot({ store, keys, log, intervalMs: 100 });
    try {
      await writeNodeRecord(store, keys, record('node-a'), 60_000);
      await writeNodeRecord(store, keys, record('node-b'), 60_000);
      registry.start();
      await eventually(() => registry.redisHealthy() && registry.nodes().length === 2);

      await server.stop();
      await eventually(() => !registry.redisHealthy());
      expect(registry.nodes().map((n) => n.record.nodeId)).toEqual(['node-a', 'node-b']);
      expect(pick(registry)).toEqual(['node-a', 'node-b']);
      // Observations still work on the kept snapshot.
      registry.markUnreachable('node-a');
      expect(pick(registry)).toEqual(['node-b']);
      await expect(registry.refreshNow()).rejects.toThrow();

      const again = await startRedisServer({ port: server.port });
      try {
        await eventually(() => registry.redisHealthy(), 15_000);
        // The new server is empty: the fleet it reports is the truth now.
        expect(registry.nodes()).toEqual([]);
      } finally {
        registry.stop();
        await store.close();
        await again.stop();
      }
    } finally {
      registry.stop();
      // Already closed on the happy path; a second disconnect would leave ioredis's 2 s socket timer behind.
      if (client.status !== 'end') client.disconnect();
    }
  });
});
