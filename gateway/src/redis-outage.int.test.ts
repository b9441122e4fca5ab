// Redis stopped mid-traffic: requests with known keys keep succeeding, nothing waits on Redis, /ready
// reports the outage, and everything recovers when Redis is back.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRedisServer, type RedisServerHandle } from '@switchyard/shared/testing';
import { startChain, type Chain } from './test-harness.js';

jest.setTimeout(90_000);

let redis: RedisServerHandle;
let chain: Chain;
const dataDir = mkdtempSync(join(tmpdir(), 'sy-outage-'));

beforeAll(async () => {
  redis = await startRedisServer({ dataDir });
  chain = await startChain({ redisUrl: redis.url });
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
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', 'x-claude-code-session-id': session },
    body: JSON.stringify(hello),
  });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - started };
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
  const until = Date.now() + 6_000;
  while (Date.now() < until) during.push(await timedPost(key, session));
  expect(during.length).toBeGreaterThan(10);
  expect(during.filter((r) => r.status !== 200)).toEqual([]);
  // Nothing waits on Redis: the slowest request stays far below any reconnect or command timeout.
  expect(Math.max(...during.map((r) => r.ms))).toBeLessThan(1_000);
  const ready = await fetch(`${chain.gatewayUrl}/ready`);
  expect(ready.status).toBe(503);
  expect(await ready.json()).toMatchObject({ redis: 'unreachable' });

  redis = await startRedisServer({ port: redis.port, dataDir });
  const back = Date.now() + 20_000;
  while ((await fetch(`${chain.gatewayUrl}/ready`)).status !== 200) {
    if (Date.now() > back) throw new Error('gateway did not become ready after Redis came back');
    await new Promise((r) => setTimeout(r, 200));
  }
  expect((await timedPost(key, session)).status).toBe(200);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(`redis outage: median ${median(before).toFixed(1)} ms before, ${median(during.map((r) => r.ms)).toFixed(1)} ms during (${during.length} requests)\n`);
});
