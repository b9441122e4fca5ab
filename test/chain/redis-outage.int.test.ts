// Redis stopped for 10 s mid-traffic: requests with known keys keep succeeding and are not slower,
// nothing waits on Redis, /ready reports the outage, usage jobs go to the gateway's spool, and after
// Redis is back every request is counted, equal to the fake upstream's ledger.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { readdirSync, statSync } from 'node:fs';
import { createKeyspace } from '@switchyard/shared';
import { startRedisServer, type RedisServerHandle, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(90_000);

let redis: RedisServerHandle;
let chain: Stack;
const dataDir = mkdtempSync(join(tmpdir(), 'sy-outage-'));

beforeAll(async () => {
  redis = await startRedisServer({ dataDir });
  chain = await startStack({ redisUrl: redis.url, worker: true });
  await chain.waitReady();
});
afterAll(async () => {
  await chain?.stop();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

const hello = { model: 'claude-sonnet-4-6', max_tokens: 32, messages: [{ role: 'user', content: 'hello' }] };

async function timedPost(key: string, session: string): Promise<{ status: number; ms: number }> {
  const started = performance.now();
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: {
      'x-api-key': key,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'x-claude-code-session-id': session,
    },
    body: JSON.stringify(hello),
  });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - started };
}

/** One unlabelled or labelled sample's value from the gateway's /metrics (0 when absent). */
async function gatewayMetric(name: string, labels = ''): Promise<number> {
  const res = await fetch(`${chain.gatewayUrl}/metrics`, {
    headers: { authorization: `Bearer ${chain.metricsToken}` },
  });
  const text = await res.text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

it('keeps serving known keys while Redis is down, and recovers after', async () => {
  const { key } = await chain.createKey();
  const session = randomUUID();
  const before: number[] = [];
  for (let i = 0; i < 10; i++) {
    const r = await timedPost(key, session);
    expect(r.status).toBe(200);
    before.push(r.ms);
  }

  await redis.stop();
  const during: { status: number; ms: number }[] = [];
  const until = Date.now() + 10_000;
  while (Date.now() < until) during.push(await timedPost(key, session));
  expect(during.length).toBeGreaterThan(10);
  expect(during.filter((r) => r.status !== 200)).toEqual([]);
  const ready = await fetch(`${chain.gatewayUrl}/ready`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ redis: 'unreachable' });
  // The jobs that could not be enqueued are on disk, not in memory.
  const spooled = readdirSync(chain.spoolDir).reduce((n, f) => n + statSync(join(chain.spoolDir, f)).size, 0);
  expect(spooled).toBeGreaterThan(0);
  // …and the metrics say so: spooled jobs counted, the spool's size, the registry unreadable.
  expect(await gatewayMetric('switchyard_gateway_usage_jobs_total', '{outcome="spooled"}')).toBeGreaterThan(0);
  expect(await gatewayMetric('switchyard_gateway_usage_spool_bytes')).toBeGreaterThan(0);
  expect(await gatewayMetric('switchyard_gateway_registry_up')).toBe(0);

  redis = await startRedisServer({ port: redis.port, dataDir });
  await waitFor(
    'the gateway ready again after Redis came back',
    async () => (await fetch(`${chain.gatewayUrl}/ready`)).status === 200,
    { timeoutMs: 20_000, intervalMs: 200 },
  );
  expect((await timedPost(key, session)).status).toBe(200);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const medianBefore = median(before);
  const medianDuring = median(during.map((r) => r.ms));
  process.stdout.write(
    `redis outage: median ${medianBefore.toFixed(1)} ms before, ${medianDuring.toFixed(1)} ms during (${during.length} requests)\n`,
  );
  // Nothing waits on Redis: a request held on it would pay a lookup's timeout (the key authenticator's 250 ms)
  // every time. A median, not the slowest request (one pause of a loaded machine is no regression), and not a
  // comparison with the median before (the load of the machine may differ between the two).
  expect(medianDuring).toBeLessThan(250);

  // Every request is counted once the spool is replayed and the worker caught up.
  const sent = before.length + during.length + 1;
  const conn = new Redis(redis.url);
  try {
    const totalsKey = createKeyspace(chain.prefix).usageAllTime();
    let totals: Record<string, string> = {};
    await waitFor(
      `${sent} requests counted`,
      async () => Number((totals = await conn.hgetall(totalsKey)).requests ?? 0) >= sent,
      {
        timeoutMs: 60_000,
        intervalMs: 250,
        detail: () => `counted ${totals.requests ?? 0} of ${sent}\n${chain.gateway.output().slice(-3000)}`,
      },
    );
    const ledger = chain.fake.usageTotals();
    expect(Number(totals.requests)).toBe(sent);
    expect({
      input: Number(totals.inputTokens),
      output: Number(totals.outputTokens),
      cacheRead: Number(totals.cacheReadInputTokens ?? 0),
      cacheCreation: Number(totals.cacheCreationInputTokens ?? 0),
    }).toEqual({
      input: ledger.input,
      output: ledger.output,
      cacheRead: ledger.cacheRead,
      cacheCreation: ledger.cacheCreation,
    });
    // The spool was replayed and emptied, and the metrics show it.
    expect(readdirSync(chain.spoolDir).reduce((n, f) => n + statSync(join(chain.spoolDir, f)).size, 0)).toBe(0);
    expect(await gatewayMetric('switchyard_gateway_usage_spool_bytes')).toBe(0);
    expect(await gatewayMetric('switchyard_gateway_usage_jobs_total', '{outcome="replayed"}')).toBeGreaterThan(0);
    expect(await gatewayMetric('switchyard_gateway_registry_up')).toBe(1);
  } finally {
    conn.disconnect();
  }
});
