// Accounting lag end to end: the gateway and its nodes run, no usage worker does, and the usage queue holds a
// job that has waited ten minutes. The gateway must say so (GET /admin/usage and its own /metrics) and keep
// serving: /ready stays 200 and requests are answered, since accounting lag never stops traffic.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JobCatalog, queuePrefix } from '@switchyard/shared';
import { testRedisUrl, startStack, type Stack } from '@switchyard/testkit';

jest.setTimeout(90_000);

const WAITED_MS = 600_000;
let chain: Stack;
let redis: Redis;
let queue: Queue | undefined;
let addedAt: number;

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), gatewayEnv: { USAGE_LAG_WARN_SECONDS: '120' } });
  await chain.waitReady();
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  queue = new Queue(JobCatalog.usage.queue, { connection: redis, prefix: queuePrefix(chain.prefix) });
  addedAt = Date.now();
  // Not a job the worker could count (none runs here): only its place in the queue and its timestamp matter.
  await queue.add('usage', { lagProbe: true }, { timestamp: addedAt - WAITED_MS });
});
afterAll(async () => {
  await queue?.close();
  await chain?.stop();
  redis?.disconnect();
});

/** Seconds the probe job has waited as of now, give or take how long the test took: at least WAITED_MS. */
function expectLag(lagSeconds: unknown): void {
  expect(typeof lagSeconds).toBe('number');
  expect(lagSeconds as number).toBeGreaterThanOrEqual(WAITED_MS / 1000);
  expect(lagSeconds as number).toBeLessThan((WAITED_MS + (Date.now() - addedAt) + 60_000) / 1000);
}

it('GET /admin/usage shows the lag, the queue and the threshold', async () => {
  const res = await chain.admin('GET', '/usage');
  expect(res.status).toBe(200);
  const body = (await res.json()) as { lagSeconds: number; queue: Record<string, number>; lagWarnSeconds: number };
  expectLag(body.lagSeconds);
  expect(body.queue).toMatchObject({ waiting: 1, active: 0, failed: 0 });
  expectLag(body.queue.lagSeconds);
  expect(body.lagWarnSeconds).toBe(120);
});

it('the gateway exports the lag and the depth on its own /metrics', async () => {
  const res = await fetch(`${chain.gatewayUrl}/metrics`, {
    headers: { authorization: `Bearer ${chain.metricsToken}` },
  });
  expect(res.status).toBe(200);
  const text = await res.text();
  expectLag(Number(/^switchyard_usage_queue_lag_seconds (\S+)$/m.exec(text)?.[1]));
  expect(text).toMatch(/^switchyard_usage_queue_jobs\{state="waiting"\} 1$/m);
});

it('/ready stays 200 and requests are served while accounting lags', async () => {
  const ready = await fetch(`${chain.gatewayUrl}/ready`);
  expect(ready.status).toBe(200);
  expect(await ready.json()).toMatchObject({ status: 'ready' });
  const { key } = await chain.createKey();
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model: 'claude-sonnet-4-6', max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
  });
  expect(res.status).toBe(200);
  await res.text();
});
