// What the gateway keeps off its request path, shown on a running chain (own redis-server):
// - it never loads js-tiktoken (every module the process resolves is traced to a file);
// - it never awaits a Redis write: with writes paused on the Redis server (CLIENT PAUSE … WRITE),
//   requests are still answered, and their usage is counted once writes resume.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { createKeyspace, withDeadline } from '@switchyard/shared';
import { startRedisServer, type RedisServerHandle, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(90_000);

const dir = mkdtempSync(join(tmpdir(), 'sy-path-'));
const traceFile = join(dir, 'gateway-modules.txt');
let redis: RedisServerHandle;
let chain: Stack;
let conn: Redis;

beforeAll(async () => {
  redis = await startRedisServer();
  chain = await startStack({
    redisUrl: redis.url,
    worker: true,
    gatewayEnv: { NODE_OPTIONS: `--import=${resolve('scripts/trace-modules.mjs')}`, TRACE_MODULES_FILE: traceFile },
  });
  await chain.waitReady();
  conn = new Redis(redis.url);
});
afterAll(async () => {
  conn?.disconnect();
  await chain?.stop();
  await redis?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function post(key: string, stream: boolean): Promise<{ status: number }> {
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: 'claude-sonnet-4-6',
      max_tokens: 64,
      stream,
      messages: [{ role: 'user', content: `hello ${randomBytes(4).toString('hex')}` }],
    }),
  });
  await res.arrayBuffer();
  return { status: res.status };
}

async function countedRequests(): Promise<number> {
  return Number((await conn.hget(createKeyspace(chain.prefix).usageAllTime(), 'requests')) ?? 0);
}

it('answers at once while Redis refuses writes, and counts the requests once writes resume', async () => {
  const { key } = await chain.createKey();
  for (let i = 0; i < 4; i++) expect((await post(key, i % 2 === 0)).status).toBe(200);
  await waitFor('the 4 requests counted', async () => (await countedRequests()) >= 4, {
    timeoutMs: 20_000,
    intervalMs: 100,
  });
  expect(await countedRequests()).toBe(4);

  // Writes are held for longer than the test runs, until the test lifts the pause: a request that waited for one
  // would not be answered before its limit.
  await conn.call('CLIENT', 'PAUSE', String(10 * 60_000), 'WRITE');
  try {
    for (let i = 0; i < 10; i++) {
      const r = await withDeadline(post(key, i % 2 === 0), 20_000, `request ${i} while writes are held`);
      expect(r.status).toBe(200);
    }
  } finally {
    await conn.call('CLIENT', 'UNPAUSE');
  }

  await waitFor('the 14 requests counted', async () => (await countedRequests()) >= 14, {
    timeoutMs: 30_000,
    intervalMs: 100,
  });
  expect(await countedRequests()).toBe(14);
});

it('never loads js-tiktoken or the worker in the gateway process (while it does load BullMQ to enqueue)', async () => {
  const { key } = await chain.createKey();
  expect((await post(key, true)).status).toBe(200);
  expect((await post(key, false)).status).toBe(200);
  const loaded = readFileSync(traceFile, 'utf8').split('\n');
  // The trace works: it saw the gateway's own entry and the queue library it enqueues with.
  expect(loaded.some((m) => m.includes('gateway/src/main.ts'))).toBe(true);
  expect(loaded.some((m) => m.includes('/bullmq/'))).toBe(true);
  expect(loaded.filter((m) => m.includes('js-tiktoken') || m.includes('usage-worker'))).toEqual([]);
});
