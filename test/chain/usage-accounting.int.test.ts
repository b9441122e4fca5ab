// Token accounting end to end: 200 requests through gateway → 2 node-agents → fake upstream, counted by a
// usage worker process that is killed with SIGKILL mid-run and replaced, then fed duplicated jobs.
// The totals must equal the fake upstream's own ledger exactly, and the js-tiktoken estimates must
// equal an independent count of the same texts.
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { getEncoding } from 'js-tiktoken';
import { createKeyspace, JobCatalog, queuePrefix } from '@switchyard/shared';
import { testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(180_000);

const SYSTEM = 'You answer questions about freight yards in one sentence.';
const MODEL = 'claude-sonnet-4-6';
const enc = getEncoding('o200k_base');
const tokens = (text: string) => (text === '' ? 0 : enc.encode(text).length);

const WORKER_ENV = { WORKER_CONCURRENCY: '4', WORKER_LOCK_DURATION_MS: '3000', WORKER_STALLED_INTERVAL_MS: '1000' };
let chain: Stack;
let redis: Redis;
let openQueue: Queue | undefined;

beforeAll(async () => {
  // A killed worker's active jobs come back once their lock expires and the next stalled check runs:
  // seconds here instead of BullMQ's default minute.
  chain = await startStack({
    redisUrl: testRedisUrl(),
    worker: WORKER_ENV,
    fakeTiming: { textDeltas: 4, deltaIntervalMs: 30 },
  });
  await chain.waitReady();
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  // Closed here too: a failed expectation before the test's own close must not leave a Redis connection open.
  await openQueue?.close();
  await chain?.stop();
  if (redis) {
    redis.disconnect();
  }
});

type Kind = 'stream' | 'json' | 'abort' | '429' | '529';
const KINDS: Kind[] = ['stream', 'stream', 'stream', 'json', 'json', 'json', 'abort', 'abort', '429', '529'];

interface Sent {
  kind: Kind;
  question: string;
  status: number;
  aborted: boolean;
  /** The assistant text the client received (empty for errors and aborts). */
  text: string;
}

// Requests the client cancels ask for another model, whose streams the fake stalls after message_start until the
// hang-up arrives: what the upstream reported is then what the gateway relayed, however loaded the machine is.
const CANCELLED_MODEL = 'claude-haiku-4-5';

function bodyOf(question: string, stream: boolean, model = MODEL): string {
  return JSON.stringify({
    model,
    max_tokens: 256,
    stream,
    system: SYSTEM,
    messages: [{ role: 'user', content: question }],
  });
}

function textOfStream(raw: string): string {
  let text = '';
  for (const frame of raw.split('\n\n')) {
    const data = frame.split('\n').find((l) => l.startsWith('data: '));
    if (!data || !frame.includes('event: content_block_delta')) continue;
    const delta = (JSON.parse(data.slice(6)) as { delta: { type: string; text?: string } }).delta;
    if (delta.type === 'text_delta') text += delta.text ?? '';
  }
  return text;
}

async function send(key: string, i: number, kind: Kind): Promise<Sent> {
  const question = `Question #${i}: which yard handles the ${i % 7 === 0 ? 'night' : 'day'} shift for train ${i * 37}?`;
  const stream = kind === 'stream' || kind === 'abort';
  if (kind === '429')
    chain.fake.inject({ kind: 'request_429', retryAfterSec: 0, times: 3, match: { route: 'messages' } });
  if (kind === '529') chain.fake.inject({ kind: 'overloaded', times: 3, match: { route: 'messages' } });
  const controller = new AbortController();
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: bodyOf(question, stream, kind === 'abort' ? CANCELLED_MODEL : MODEL),
    signal: controller.signal,
  });
  if (kind !== 'abort' || res.status !== 200 || !res.body) {
    const raw = await res.text();
    const text =
      res.status !== 200
        ? ''
        : stream
          ? textOfStream(raw)
          : (JSON.parse(raw) as { content: { type: string; text?: string }[] }).content
              .map((b) => b.text ?? '')
              .join('');
    return { kind, question, status: res.status, aborted: false, text };
  }
  // Hang up once message_start has arrived, before the paced text deltas.
  let seen = '';
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    seen += Buffer.from(chunk).toString('utf8');
    if (seen.includes('event: message_start')) break;
  }
  controller.abort();
  return { kind, question, status: 200, aborted: true, text: '' };
}

async function allTime(): Promise<Record<string, number>> {
  const raw = await redis.hgetall(createKeyspace(chain.prefix).usageAllTime());
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
}

async function waitForRequests(n: number): Promise<Record<string, number>> {
  return waitFor(
    `${n} requests counted`,
    async () => {
      const totals = await allTime();
      return (totals.requests ?? 0) >= n && totals;
    },
    { timeoutMs: 60_000, intervalMs: 200, detail: () => chain.worker?.output() ?? '' },
  );
}

it('counts 200 mixed requests exactly once across a worker kill -9 and duplicated jobs, equal to the upstream ledger', async () => {
  const { key, id: keyId } = await chain.createKey();
  chain.fake.inject({ kind: 'stall_after_events', afterEvents: 1, times: 1_000, match: { model: 'haiku' } });
  const sent: Sent[] = [];
  const queueOfWork = Array.from({ length: 200 }, (_, i) => i);
  // The queue waits while the traffic runs, so every job's payload can be kept for the duplicates below
  // (a completed job is deleted at once); the worker is killed mid-way through counting them.
  const queue = new Queue(JobCatalog.usage.queue, {
    connection: { url: testRedisUrl() },
    prefix: queuePrefix(chain.prefix),
  });
  openQueue = queue;
  await queue.pause();
  // 4 clients in parallel; the 429/529 faults are taken by whichever request comes next, so what
  // each client got is recorded and compared, not assumed.
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      for (let i = queueOfWork.shift(); i !== undefined; i = queueOfWork.shift())
        sent.push(await send(key, i, KINDS[i % KINDS.length] as Kind));
    }),
  );
  expect(sent).toHaveLength(200);
  // The gateway enqueues each job after its response ended, off the request path: the last ones may still be on their way.
  let jobs = await queue.getJobs(['waiting'], 0, -1);
  await waitFor(
    'the 200 usage jobs enqueued',
    async () => (jobs = await queue.getJobs(['waiting'], 0, -1)).length >= 200,
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  expect(jobs).toHaveLength(200);
  await queue.resume();
  await waitForRequests(80);
  chain.worker?.proc.kill('SIGKILL');
  await chain.startWorker();
  const totals = await waitForRequests(200);

  // Exact figures equal the fake upstream's ledger (what it reported to clients), summed over both accounts.
  const ledger = chain.fake.usageTotals();
  expect({
    inputTokens: totals.inputTokens ?? 0,
    outputTokens: totals.outputTokens ?? 0,
    cacheCreationInputTokens: totals.cacheCreationInputTokens ?? 0,
    cacheReadInputTokens: totals.cacheReadInputTokens ?? 0,
  }).toEqual({
    inputTokens: ledger.input,
    outputTokens: ledger.output,
    cacheCreationInputTokens: ledger.cacheCreation,
    cacheReadInputTokens: ledger.cacheRead,
  });
  expect(ledger.input).toBeGreaterThan(0);
  expect(totals.requests).toBe(200);
  expect(totals.errors ?? 0).toBe(sent.filter((s) => s.status >= 400).length);
  expect(totals.aborted ?? 0).toBe(sent.filter((s) => s.aborted).length);
  expect(sent.filter((s) => s.status === 429).length).toBeGreaterThan(0);
  expect(sent.filter((s) => s.status === 529).length).toBeGreaterThan(0);
  expect(sent.filter((s) => s.aborted).length).toBeGreaterThan(10);

  // Estimates equal an independent count: the prompt of every request that reached the upstream
  // (system + the user's question), and the text of every answer the client received whole.
  const reached = new Set(
    chain.fake.requests.map(
      (r) => (r.body as { messages?: { content: string }[] } | undefined)?.messages?.[0]?.content,
    ),
  );
  const expectedInput = sent
    .filter((s) => reached.has(s.question))
    .reduce((n, s) => n + tokens(SYSTEM) + tokens(s.question), 0);
  expect(totals.estimatedInputTokens ?? 0).toBe(expectedInput);
  // Output: exact for every answer that completed; an aborted stream counts what the gateway relayed
  // before the hang-up reached it (under load a delta or two may pass), so it is bounded, not fixed.
  const recent = (await redis.lrange(createKeyspace(chain.prefix).recent(), 0, -1)).map(
    (e) => JSON.parse(e) as { aborted: boolean; estimatedOutputTokens: number },
  );
  expect(recent).toHaveLength(200);
  const completeOutput = recent.filter((r) => !r.aborted).reduce((n, r) => n + r.estimatedOutputTokens, 0);
  expect(completeOutput).toBe(sent.filter((s) => !s.aborted).reduce((n, s) => n + tokens(s.text), 0));
  const longestAnswer = Math.max(...sent.map((s) => tokens(s.text)));
  for (const r of recent.filter((e) => e.aborted)) expect(r.estimatedOutputTokens).toBeLessThanOrEqual(longestAnswer);
  expect(totals.estimatedOutputTokens ?? 0).toBe(recent.reduce((n, r) => n + r.estimatedOutputTokens, 0));

  // The key's own day hash (what its daily budget reads) holds the same exact figures.
  const day = new Date().toISOString().slice(0, 10);
  const perKey = await redis.hgetall(createKeyspace(chain.prefix).usage('key', keyId, day));
  expect(Number(perKey.inputTokens)).toBe(ledger.input);
  expect(Number(perKey.requests)).toBe(200);

  // Duplicates: every job added again under a new job id, and a second time under its own (the first is deleted,
  // so the queue takes it): the worker's usage:done markers make them count nothing.
  try {
    expect(await queue.getCompletedCount()).toBe(0);
    await queue.addBulk(
      jobs.map((job) => ({ name: 'usage', data: job.data as unknown, opts: { jobId: `dup-${job.id ?? ''}` } })),
    );
    await queue.addBulk(
      jobs.map((job) => ({
        name: 'usage',
        data: job.data as unknown,
        opts: job.id === undefined ? {} : { jobId: job.id },
      })),
    );
    const pending = async () =>
      Object.values(await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized')).reduce((a, b) => a + b, 0);
    await waitFor('the duplicated jobs handled', async () => (await pending()) === 0, {
      timeoutMs: 30_000,
      intervalMs: 200,
    });
  } finally {
    await queue.close();
  }
  expect(await allTime()).toEqual(totals);

  // The admin API reads the same totals.
  const res = await chain.admin('GET', '/usage?by=key');
  expect(res.status).toBe(200);
  const usage = (await res.json()) as { rows: { id: string; requests: number; inputTokens: number }[] };
  expect(usage.rows.find((r) => r.id === keyId)).toMatchObject({ requests: 200, inputTokens: ledger.input });
});
