// The worker's alerting against a real Redis and real receivers on loopback: an alert raised several times is
// recorded and delivered once, signed (verified with standardwebhooks), retried after two 500s with the same
// webhook-id; the dispatcher, cut off half-way, delivers everything on its retry; budgets raise each threshold once.
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Queue, UnrecoverableError, type Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import {
  AlertEventSchema,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  JobCatalog,
  queuePrefix,
  type AlertEvent,
  type JobData,
} from '@switchyard/shared';
import { deleteKeys, testRedisUrl, uniquePrefix, waitFor } from '@switchyard/testkit';
import { alertJobId } from '../../alerts/alert-ids.js';
import { createAlertDispatcher, type DeliveryQueue } from './alert-dispatcher.js';
import { NO_ALERT_METRICS } from './alert-metrics.js';
import { createWorkerAlerting, type WorkerAlerting } from './alert-runtime.js';
import { createBudgetAlerts } from './budget-alerts.js';
import { startReceiver, type WebhookReceiver } from './test-harness.js';

jest.setTimeout(60_000);

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let redis: Redis;
const prefixes: string[] = [];
const closers: (() => Promise<void>)[] = [];

beforeAll(() => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
});
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(redis, p);
  redis.disconnect();
});

function fresh(): { prefix: string; keys: ReturnType<typeof createKeyspace> } {
  const prefix = uniquePrefix('alerts');
  prefixes.push(prefix);
  return { prefix, keys: createKeyspace(prefix) };
}

function event(id: string): AlertEvent {
  return {
    id,
    type: 'node_lost',
    at: 1_765_000_000_000,
    nodeId: 'node-a',
    message: 'Node node-a left the fleet without draining.',
    data: { lastHeartbeatAt: 1 },
  };
}

async function startAlerting(
  urls: string[],
): Promise<{ alerting: WorkerAlerting; registry: Registry; keys: ReturnType<typeof createKeyspace>; queues: Queue[] }> {
  const { prefix, keys } = fresh();
  const queues = [
    new Queue(JobCatalog.alert.queue, { connection: redis, prefix: queuePrefix(prefix) }),
    new Queue(JobCatalog.alertDelivery.queue, { connection: redis, prefix: queuePrefix(prefix) }),
  ];
  closers.push(async () => {
    for (const q of queues) await q.close();
  });
  const registry = new Registry();
  const alerting = createWorkerAlerting({
    connection: redis,
    store: createIoRedisStore(redis),
    prefix: queuePrefix(prefix),
    keys,
    urls,
    secret: SECRET,
    registry,
    log: createNullLogger(),
    deliveryBackoffMs: 50,
  });
  await alerting.start();
  closers.push(() => alerting.close());
  return { alerting, registry, keys, queues };
}

async function metric(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values as { labels: Record<string, string>; value: number }[] | undefined)?.find((x) =>
    Object.entries(labels).every(([k, l]) => x.labels[k] === l),
  );
  return v?.value ?? 0;
}

describe('alert delivery', () => {
  it('delivers an alert raised three times once, signed, after two 500s with the same webhook-id; lists and counts it once', async () => {
    const flaky: WebhookReceiver = await startReceiver((attempt) => (attempt < 2 ? 500 : 200));
    const steady = await startReceiver();
    closers.push(flaky.close, steady.close);
    const { alerting, registry, keys, queues } = await startAlerting([flaky.url, steady.url]);

    const raised = event('node_lost:node-a:1');
    for (let i = 0; i < 3; i++) alerting.sink.emit(raised);
    await waitFor('the flaky receiver to take the alert', () => flaky.received.some((r) => r.status === 200), 60_000);
    await waitFor('the steady receiver to take the alert', () => steady.received.length === 1, 60_000);
    // Raised again after it was delivered (its job is gone): recorded already, nothing is sent.
    await queues[0]?.add('alert', raised, { ...JobCatalog.alert.defaults, jobId: alertJobId(raised.id) });
    const idle = async () =>
      (await Promise.all(queues.map((q) => q.getJobCounts('waiting', 'active', 'delayed', 'prioritized')))).every((c) =>
        Object.values(c).every((n) => n === 0),
      );
    await waitFor('both queues to be empty', idle, 60_000);

    expect(flaky.received.map((r) => r.status)).toEqual([500, 500, 200]);
    expect(steady.received.map((r) => r.status)).toEqual([200]);
    const verifier = new Webhook(SECRET);
    for (const r of [...flaky.received, ...steady.received]) {
      expect(r.headers['webhook-id']).toBe(raised.id);
      expect(AlertEventSchema.parse(verifier.verify(r.body, r.headers))).toEqual(raised);
    }
    // A forged body does not verify.
    const first = flaky.received[0];
    expect(() => verifier.verify((first?.body ?? '').replace('node-a', 'node-b'), first?.headers ?? {})).toThrow();

    const recent = await redis.lrange(keys.alertsRecent(), 0, -1);
    expect(recent.map((r) => (JSON.parse(r) as AlertEvent).id)).toEqual([raised.id]);
    expect(await metric(registry, 'switchyard_alerts_raised_total', { type: 'node_lost' })).toBe(1);
    expect(await metric(registry, 'switchyard_alert_deliveries_total', { outcome: 'retried' })).toBe(2);
    expect(await metric(registry, 'switchyard_alert_deliveries_total', { outcome: 'delivered' })).toBe(2);
  });

  it('raises usage_job_failed for a usage job that failed for good, not for an attempt that will be retried', async () => {
    const { alerting, keys } = await startAlerting([]);
    const usageWorker = new EventEmitter();
    alerting.watchUsage(usageWorker as unknown as Pick<Worker, 'on'>);
    const job = (id: string, attemptsMade: number) => ({
      id,
      attemptsMade,
      opts: { attempts: 3 },
      data: { keyId: 'key_1', nodeId: 'node-a', prompt: 'never in an alert' },
    });
    usageWorker.emit('failed', job('req_retried', 1), new Error('redis away'));
    usageWorker.emit('failed', job('req_final', 3), new Error('redis away'));
    usageWorker.emit('failed', job('req_invalid', 1), new UnrecoverableError('usage job payload is invalid'));
    await waitFor('two alerts listed', async () => (await redis.llen(keys.alertsRecent())) === 2, 60_000);
    const listed = (await redis.lrange(keys.alertsRecent(), 0, -1)).map((r) => JSON.parse(r) as AlertEvent);
    expect(listed.map((e) => e.id).sort()).toEqual(['usage_job_failed:req_final', 'usage_job_failed:req_invalid']);
    expect(listed[0]).toMatchObject({ type: 'usage_job_failed', keyId: 'key_1', nodeId: 'node-a' });
    expect(JSON.stringify(listed)).not.toContain('never in an alert');
  });

  it('records alerts without webhooks (listed and counted, nothing sent)', async () => {
    const { alerting, keys, registry } = await startAlerting([]);
    alerting.sink.emit(event('node_lost:node-a:2'));
    alerting.sink.emit(event('node_lost:node-b:2'));
    await waitFor('both alerts listed', async () => (await redis.llen(keys.alertsRecent())) === 2, 60_000);
    expect(await metric(registry, 'switchyard_alerts_raised_total', { type: 'node_lost' })).toBe(2);
  });
});

describe('alert dispatcher', () => {
  it('a dispatch cut off after some deliveries were queued queues the rest on its retry, and marks the alert only then', async () => {
    const { keys } = fresh();
    const added: string[] = [];
    let failNext = true;
    const deliveries: DeliveryQueue = {
      add(_name, data, opts) {
        if (data.url.endsWith('/b') && failNext) {
          failNext = false;
          return Promise.reject(new Error('connection lost'));
        }
        if (!added.includes(opts.jobId)) added.push(opts.jobId);
        return Promise.resolve();
      },
    };
    const dispatcher = createAlertDispatcher({
      store: createIoRedisStore(redis),
      keys,
      deliveries,
      urls: ['https://a.example/a', 'https://a.example/b'],
      log: createNullLogger(),
      metrics: NO_ALERT_METRICS,
    });
    const e = event('usage_job_failed:req_1');
    await expect(dispatcher.handle(e)).rejects.toThrow('connection lost');
    expect(await redis.exists(keys.alertRaised(e.id))).toBe(0);
    expect(await redis.llen(keys.alertsRecent())).toBe(0);
    await expect(dispatcher.handle(e)).resolves.toBe(true);
    expect(added).toHaveLength(2);
    expect(new Set(added).size).toBe(2);
    expect(await redis.ttl(keys.alertRaised(e.id))).toBeGreaterThan(30 * 86_400);
    // Raised again: nothing queued, nothing listed.
    await expect(dispatcher.handle(e)).resolves.toBe(false);
    expect(await redis.llen(keys.alertsRecent())).toBe(1);
    expect(added).toHaveLength(2);
  });

  it('refuses a payload that is not an alert for good', async () => {
    const { keys } = fresh();
    const dispatcher = createAlertDispatcher({
      store: createIoRedisStore(redis),
      keys,
      deliveries: { add: () => Promise.resolve() },
      urls: [],
      log: createNullLogger(),
      metrics: NO_ALERT_METRICS,
    });
    // What a broken producer could put in the queue, whatever the catalog's type says.
    const junk = { id: 'x y', type: 'nope' } as unknown as JobData<'alert'>;
    await expect(dispatcher.handle(junk)).rejects.toMatchObject({ name: 'UnrecoverableError' });
  });
});

describe('budget thresholds', () => {
  const AT = Date.UTC(2026, 11, 7, 12);

  async function setup(record: Record<string, unknown>) {
    const { keys } = fresh();
    const raised: AlertEvent[] = [];
    await redis.set(
      keys.keyById('key_1'),
      JSON.stringify({ id: 'key_1', name: 'ci', dailyTokenBudget: null, ...record }),
    );
    const budgets = createBudgetAlerts({
      store: createIoRedisStore(redis),
      keys,
      sink: { emit: (e) => raised.push(e) },
      log: createNullLogger(),
      now: () => AT,
      recordTtlMs: 0,
    });
    const add = (fields: Record<string, number>, month = false) =>
      Promise.all(
        Object.entries(fields).map(([f, n]) =>
          redis.hincrby(month ? keys.usageMonth('key_1', '2026-12') : keys.usage('key', 'key_1', '2026-12-07'), f, n),
        ),
      );
    return { raised, budgets, add, check: () => budgets.check({ keyId: 'key_1', at: AT }) };
  }

  it('raises 50, 80 and 100 % of a daily token budget once each, counting every token field', async () => {
    const t = await setup({ dailyTokenBudget: 1000 });
    await t.add({
      inputTokens: 200,
      outputTokens: 100,
      cacheCreationInputTokens: 100,
      cacheReadInputTokens: 99,
      estimatedInputTokens: 10_000,
    });
    await t.check();
    expect(t.raised).toEqual([]);
    await t.add({ cacheReadInputTokens: 1 });
    await t.check();
    await t.check();
    await t.add({ outputTokens: 350 });
    await t.check();
    await t.add({ outputTokens: 1000 });
    await t.check();
    await t.check();
    expect(t.raised.map((e) => e.id)).toEqual([
      'budget_threshold:key_1:daily_tokens:2026-12-07:50',
      'budget_threshold:key_1:daily_tokens:2026-12-07:80',
      'budget_threshold:key_1:daily_tokens:2026-12-07:100',
    ]);
    expect(t.raised[1]).toMatchObject({
      keyId: 'key_1',
      data: { budget: 'daily_tokens', threshold: 80, used: 850, limit: 1000, unit: 'tokens' },
    });
    for (const e of t.raised) expect(AlertEventSchema.safeParse(e).success).toBe(true);
  });

  it('raises the USD budgets from costMicros, the monthly one from the month totals', async () => {
    const t = await setup({ dailyUsdBudget: 0.5, monthlyUsdBudget: 10 });
    await t.add({ costMicros: 400_000 });
    await t.add({ costMicros: 5_000_000 }, true);
    await t.check();
    expect(t.raised.map((e) => e.id)).toEqual([
      'budget_threshold:key_1:daily_usd:2026-12-07:50',
      'budget_threshold:key_1:daily_usd:2026-12-07:80',
      'budget_threshold:key_1:monthly_usd:2026-12:50',
    ]);
    expect(t.raised[1]?.message).toContain('$0.40 of $0.5');
  });

  it('a key without budgets, or a record written before the USD budgets existed, raises nothing it should not', async () => {
    const t = await setup({});
    await t.add({ inputTokens: 10_000, costMicros: 10_000_000 });
    await t.check();
    expect(t.raised).toEqual([]);
  });
});
