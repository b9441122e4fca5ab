// The registry snapshot over node reports (as the tunnel hub hands them out) and drain flags on a real Redis.
import type { IncomingHttpHeaders } from 'node:http';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  initialAccountState,
} from '@switchyard/shared';
import type { NodeReport, SharedStore } from '@switchyard/shared';
import {
  FAKE_MODEL,
  createFakeAnthropic,
  fakeMessagesBody,
  fakeOAuthHeaders,
  postFakeMessages,
  startRedisServer,
  testRedisUrl,
  uniquePrefix,
  waitFor,
} from '@switchyard/testkit';
import type { FakeAnthropic, Fault } from '@switchyard/testkit';
import { chooseNodes } from './choose-nodes.js';
import { createRegistrySnapshot, type ReportSource } from './registry-snapshot.js';
import type { RegistrySnapshot } from './types.js';

const OPUS = 'claude-opus-4-5-20251101';
const log = createNullLogger();

function record(nodeId: string, over: Partial<NodeReport> = {}): NodeReport {
  const now = Date.now();
  return {
    nodeId,
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

/** The hub's side of the contract: a new array whenever a report or a tunnel changed. */
function reportsOf(
  ...initial: NodeReport[]
): ReportSource & { publish(report: NodeReport): void; drop(nodeId: string): void } {
  let reports: readonly NodeReport[] = initial;
  return {
    reports: () => reports,
    publish(report) {
      reports = [...reports.filter((r) => r.nodeId !== report.nodeId), report].sort((a, b) =>
        a.nodeId.localeCompare(b.nodeId),
      );
    },
    drop(nodeId) {
      reports = reports.filter((r) => r.nodeId !== nodeId);
    },
  };
}

function pick(registry: RegistrySnapshot, model: string | undefined = FAKE_MODEL, nowMs = Date.now()): string[] {
  const choice = chooseNodes(registry.nodes(), { model, nowMs, inFlight: () => 0, random: () => 0 });
  return choice.ok ? choice.order.map((n) => n.record.nodeId) : [`error:${choice.error.status}`];
}

async function upstreamAnswer(
  fake: FakeAnthropic,
  fault: Fault | undefined,
  model = FAKE_MODEL,
): Promise<{ status: number; headers: IncomingHttpHeaders }> {
  if (fault) fake.inject(fault);
  const res = await postFakeMessages(
    fake.url,
    fakeOAuthHeaders(fake.issueAccessToken('acct-1')),
    fakeMessagesBody({ model }),
  );
  await res.arrayBuffer();
  return { status: res.status, headers: Object.fromEntries(res.headers) };
}

describe('registry snapshot over tunnel reports', () => {
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
    await store.del(...ids.map((id) => keys.nodeControl(id)));
  });

  afterAll(async () => {
    await fake.stop();
    await store.close();
  });

  it('lists the reporting nodes and follows the drain flag', async () => {
    const source = reportsOf();
    const registry = createRegistrySnapshot({ source, store, keys, log });
    expect(registry.nodes()).toEqual([]);
    source.publish(record('node-a'));
    source.publish(record('node-b'));
    await registry.refreshNow();
    expect(registry.redisHealthy()).toBe(true);
    expect(registry.nodes().map((n) => [n.record.nodeId, n.adminDrained])).toEqual([
      ['node-a', false],
      ['node-b', false],
    ]);

    await store.set(keys.nodeControl('node-a'), '{"drained":true}');
    await registry.refreshNow();
    expect(registry.nodes().find((n) => n.record.nodeId === 'node-a')?.adminDrained).toBe(true);
    expect(pick(registry)).toEqual(['node-b']);

    await store.del(keys.nodeControl('node-a'));
    await registry.refreshNow();
    expect(pick(registry)).toEqual(['node-a', 'node-b']);
  });

  it('follows the reports at once: a new report, a node whose tunnel is gone', () => {
    const source = reportsOf(record('node-a'), record('node-c'));
    const registry = createRegistrySnapshot({ source, store, keys, log });
    expect(registry.nodes().map((n) => n.record.nodeId)).toEqual(['node-a', 'node-c']);
    source.drop('node-c');
    expect(registry.nodes().map((n) => n.record.nodeId)).toEqual(['node-a']);
    source.publish(record('node-a', { state: { ...initialAccountState(Date.now()), state: 'needs_login' } }));
    expect(pick(registry)).toEqual(['error:529']);
  });

  it('benches a node at once on a 429 that rejects its window, before its next report', async () => {
    const registry = createRegistrySnapshot({
      source: reportsOf(record('node-a'), record('node-b')),
      store,
      keys,
      log,
    });
    await registry.refreshNow();

    const answer = await upstreamAnswer(fake, { kind: 'rate_limit', resetInSec: 3600 });
    expect(answer.status).toBe(429);
    registry.observe('node-a', answer.status, answer.headers, FAKE_MODEL);

    const a = registry.nodes().find((n) => n.record.nodeId === 'node-a');
    expect(a?.localState?.state).toBe('limited');
    expect(a?.localState?.limitedUntil).toBeGreaterThan(Date.now() + 3_500_000);
    expect(pick(registry)).toEqual(['node-b']);
    // Still benched after a refresh that brings the same (older) report.
    await registry.refreshNow();
    expect(pick(registry)).toEqual(['node-b']);
  });

  it('does not bench a node for a request-scoped 429', async () => {
    const registry = createRegistrySnapshot({ source: reportsOf(record('node-a')), store, keys, log });
    await registry.refreshNow();
    const answer = await upstreamAnswer(fake, { kind: 'request_429', retryAfterSec: 5 });
    expect(answer.status).toBe(429);
    registry.observe('node-a', answer.status, answer.headers, FAKE_MODEL);
    expect(pick(registry)).toEqual(['node-a']);
  });

  it('benches a node for one model family only when the 429 rejects that family', async () => {
    const registry = createRegistrySnapshot({
      source: reportsOf(record('node-a'), record('node-b')),
      store,
      keys,
      log,
    });
    await registry.refreshNow();
    const answer = await upstreamAnswer(
      fake,
      { kind: 'rate_limit', modelFamily: 'opus', match: { model: 'opus' } },
      OPUS,
    );
    expect(answer.status).toBe(429);
    registry.observe('node-a', answer.status, answer.headers, OPUS);
    expect(pick(registry, OPUS)).toEqual(['node-b']);
    expect(pick(registry, FAKE_MODEL).sort()).toEqual(['node-a', 'node-b']);
  });

  it('lets a newer report replace what a response taught, once the grace period has passed', async () => {
    const source = reportsOf(record('node-a', { heartbeatAt: Date.now() - 1000 }));
    const registry = createRegistrySnapshot({ source, store, keys, log, observationGraceMs: 0 });
    await registry.refreshNow();
    const answer = await upstreamAnswer(fake, { kind: 'rate_limit', resetInSec: 3600 });
    registry.observe('node-a', answer.status, answer.headers, FAKE_MODEL);
    expect(pick(registry)).toEqual(['error:429']);
    // The node's own report says the account is fine (e.g. an operator switched it): the node knows best.
    source.publish(record('node-a'));
    expect(registry.nodes()[0]?.localState).toBeUndefined();
    expect(pick(registry)).toEqual(['node-a']);
  });

  it('follows a node that starts draining even while its responses keep arriving', async () => {
    const source = reportsOf(record('node-a', { heartbeatAt: Date.now() - 1000 }), record('node-b'));
    const registry = createRegistrySnapshot({ source, store, keys, log });
    await registry.refreshNow();
    const ok = await upstreamAnswer(fake, undefined);
    expect(ok.status).toBe(200);
    registry.observe('node-a', ok.status, ok.headers, FAKE_MODEL);
    expect(registry.nodes()[0]?.localState).toBeDefined();

    source.publish(record('node-a', { state: { ...initialAccountState(Date.now()), state: 'draining' } }));
    registry.observe('node-a', ok.status, ok.headers, FAKE_MODEL);
    expect(pick(registry)).toEqual(['node-b']);
  });

  it('keeps an unreachable node out for its cool-down, and takes it back after', async () => {
    let clock = Date.now();
    const registry = createRegistrySnapshot({
      source: reportsOf(record('node-a'), record('node-b')),
      store,
      keys,
      log,
      unreachableCooldownMs: 5_000,
      now: () => clock,
    });
    await registry.refreshNow();
    registry.markUnreachable('node-a');
    expect(pick(registry, FAKE_MODEL, clock)).toEqual(['node-b']);
    clock += 4_999;
    expect(pick(registry, FAKE_MODEL, clock)).toEqual(['node-b']);
    clock += 1;
    expect(pick(registry, FAKE_MODEL, clock)).toEqual(['node-a', 'node-b']);
  });
});

describe('registry snapshot when Redis stops', () => {
  it('keeps the last drain flags, reports the outage, and recovers', async () => {
    const server = await startRedisServer();
    const keys = createKeyspace(uniquePrefix('registry-outage'));
    const client = createIoRedisClient(server.url);
    const store = createIoRedisStore(client);
    const source = reportsOf(record('node-a'), record('node-b'), record('node-c'));
    const registry = createRegistrySnapshot({
      source,
      store,
      keys,
      log,
      intervalMs: 100,
      unreachableCooldownMs: 120_000,
    });
    try {
      await store.set(keys.nodeControl('node-c'), '{"drained":true}');
      registry.start();
      await waitFor(
        'Redis healthy and node-a, node-b routable',
        () => registry.redisHealthy() && pick(registry).join() === 'node-a,node-b',
      );

      await server.stop();
      await waitFor('the registry to see Redis gone', () => !registry.redisHealthy());
      // The reports come through the tunnels, not Redis: a report still moves routing.
      source.publish(record('node-b', { state: { ...initialAccountState(Date.now()), state: 'needs_login' } }));
      expect(pick(registry)).toEqual(['node-a']);
      source.publish(record('node-b'));
      expect(pick(registry)).toEqual(['node-a', 'node-b']);
      // Observations still work on the kept snapshot.
      registry.markUnreachable('node-a');
      expect(pick(registry)).toEqual(['node-b']);
      await expect(registry.refreshNow()).rejects.toThrow();

      const again = await startRedisServer({ port: server.port });
      try {
        await waitFor('the registry to see Redis back', () => registry.redisHealthy(), 15_000);
        // The new server is empty: no drain flag any more (node-a sits out its unreachable cool-down).
        expect(pick(registry)).toEqual(['node-b', 'node-c']);
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
