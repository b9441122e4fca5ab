// The worker process as operators run it (spawned from source, real Redis, jobs added through BullMQ):
// kill -9 mid-batch and duplicated jobs count nothing twice and lose nothing, and no completed job's payload
// stays in Redis; SIGTERM lets active jobs finish and exits 0; a bad environment stops it naming the variable;
// with an OTLP endpoint it exports a span per job, the last ones before it exits.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { blockHash, createKeyspace, JobCatalog, queuePrefix, utcDay, type UsageJob } from '@switchyard/shared';
import {
  deleteKeys,
  spawnService,
  startOtlpReceiver,
  startRedisServer,
  testRedisUrl,
  uniquePrefix,
  type SpawnedService,
  waitFor,
} from '@switchyard/testkit';

jest.setTimeout(120_000);

const ENTRY = 'gateway/src/usage-worker/main.ts';
let redis: Redis;
const prefixes: string[] = [];
const services: SpawnedService[] = [];
const queues: Queue[] = [];

beforeAll(() => {
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  for (const svc of services) svc.kill();
  await Promise.all(services.map((svc) => svc.exited()));
  for (const q of queues) await q.close();
  for (const prefix of prefixes) await deleteKeys(redis, prefix);
  await redis.quit();
});

interface Setup {
  prefix: string;
  keys: ReturnType<typeof createKeyspace>;
  queue: Queue;
  start(env?: Record<string, string>): Promise<SpawnedService>;
}

function setup(client: Redis = redis, redisUrl = testRedisUrl()): Setup {
  const prefix = uniquePrefix('worker');
  prefixes.push(prefix);
  const queue = new Queue(JobCatalog.usage.queue, { connection: client, prefix: queuePrefix(prefix) });
  // The outage test stops Redis under the queue too; the producer's side is not what it tests.
  queue.on('error', () => undefined);
  queues.push(queue);
  return {
    prefix,
    keys: createKeyspace(prefix),
    queue,
    async start(env = {}) {
      const svc = spawnService(ENTRY, {
        REDIS_URL: redisUrl,
        REDIS_PREFIX: prefix,
        WORKER_CONCURRENCY: '4',
        // A killed worker's jobs come back within a few seconds instead of BullMQ's default 30.
        WORKER_LOCK_DURATION_MS: '2000',
        WORKER_STALLED_INTERVAL_MS: '1000',
        // Several workers run at once here: none takes the default metrics port.
        METRICS_PORT: '0',
        ...env,
      });
      services.push(svc);
      await svc.waitForOutput(/worker ready/, 30_000);
      return svc;
    },
  };
}

/** A finished request with a prompt of one new block of `words` words, so each job costs the tokeniser a little. */
function usageJob(i: number, words = 2_000): UsageJob {
  const block = {
    type: 'text',
    text: `request ${i} ${randomBytes(4).toString('hex')} ` + 'yard track signal '.repeat(words / 3),
  };
  const hash = blockHash(block);
  return {
    requestId: `req_${i}_${randomBytes(4).toString('hex')}`,
    at: Date.now(),
    keyId: `key_${i % 3}`,
    nodeId: i % 2 === 0 ? 'node-a' : 'node-b',
    model: 'claude-sonnet-4-6',
    stream: false,
    status: 200,
    durationMs: 10,
    ttfbMs: 5,
    aborted: false,
    brokeMidStream: false,
    accountKind: null,
    sticky: 'none',
    route: 'messages',
    usage: {
      inputTokens: 100 + i,
      outputTokens: 7,
      cacheCreationInputTokens: 0,
      cacheCreation5mInputTokens: 0,
      cacheCreation1hInputTokens: 0,
      cacheReadInputTokens: 1,
    },
    stopReason: 'end_turn',
    endedCleanly: true,
    prompt: { hashes: [hash], blocks: [{ hash, block }] },
    output: { kind: 'message', content: [{ type: 'text', text: `answer ${i}` }] },
  };
}

async function addAll(
  queue: Queue,
  jobs: UsageJob[],
  jobId: (j: UsageJob) => string = (j) => j.requestId,
): Promise<void> {
  await queue.addBulk(
    jobs.map((data) => ({ name: 'usage', data, opts: { ...JobCatalog.usage.defaults, jobId: jobId(data) } })),
  );
}

const counted = async (s: Setup, client: Redis = redis) =>
  Number((await client.hget(s.keys.usageAllTime(), 'requests')) ?? 0);

/** Jobs not finished yet (completed ones are deleted as they complete, so the queue cannot count those). */
const pending = async (s: Setup) =>
  Object.values(await s.queue.getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'waiting-children')).reduce(
    (a, b) => a + b,
    0,
  );

/** How many of the jobs' own hashes (their payload: prompt and response text) are still in Redis. */
async function jobsStored(s: Setup, ids: string[]): Promise<number> {
  const found = await Promise.all(
    ids.map((id) => redis.exists(`${queuePrefix(s.prefix)}:${JobCatalog.usage.queue}:${id}`)),
  );
  return found.reduce((a, b) => a + b, 0);
}

it('counts 200 jobs exactly once across a kill -9 mid-batch and duplicated jobs', async () => {
  const s = setup();
  const jobs = Array.from({ length: 200 }, (_, i) => usageJob(i));
  await addAll(s.queue, jobs);

  const first = await s.start();
  await waitFor('the first jobs to be counted', async () => (await counted(s)) >= 30, {
    timeoutMs: 30_000,
    detail: () => first.output(),
  });
  first.proc.kill('SIGKILL');
  expect(await first.exited()).toEqual({ code: null, signal: 'SIGKILL' });
  const atKill = await counted(s);
  const activeAtKill = await s.queue.getActiveCount();
  expect(atKill).toBeLessThan(200);

  const second = await s.start({ LOG_LEVEL: 'debug' });
  await waitFor('all 200 to be counted', async () => (await counted(s)) >= 200 && (await pending(s)) === 0, {
    timeoutMs: 60_000,
    detail: () => second.output(),
  });
  // Completed jobs are deleted at once: no payload stays behind.
  expect(await s.queue.getCompletedCount()).toBe(0);
  expect(
    await jobsStored(
      s,
      jobs.map((j) => j.requestId),
    ),
  ).toBe(0);

  // Duplicates the queue cannot recognise: another jobId (as a hand-replayed spool would make), and the same jobId
  // again (the first job is gone, so the queue takes it): the usage:done marker makes each count nothing.
  // (Jobs the killed worker held were run again too, and some of those had counted already: start from here.)
  const notCounted = () =>
    second
      .output()
      .split('\n')
      .filter((l) => l.includes('usage job handled') && l.includes('"counted":false')).length;
  const before = notCounted();
  await addAll(s.queue, jobs.slice(0, 40), (j) => `${j.requestId}-again`);
  await addAll(s.queue, jobs.slice(40, 80));
  await waitFor('the duplicates to be handled', async () => notCounted() - before === 80 && (await pending(s)) === 0, {
    timeoutMs: 30_000,
    detail: () => second.output(),
  });

  const total = await redis.hgetall(s.keys.usageAllTime());
  expect(Number(total.requests)).toBe(200);
  expect(Number(total.inputTokens)).toBe(jobs.reduce((sum, j) => sum + (j.usage?.inputTokens ?? 0), 0));
  expect(Number(total.cacheReadInputTokens)).toBe(200);
  for (const k of ['key_0', 'key_1', 'key_2']) {
    const mine = jobs.filter((j) => j.keyId === k);
    const days = [...new Set(mine.map((j) => utcDay(j.at)))];
    const requests = await Promise.all(
      days.map(async (day) => Number(await redis.hget(s.keys.usage('key', k, day), 'requests'))),
    );
    expect({ k, requests: requests.reduce((a, b) => a + b, 0) }).toEqual({ k, requests: mine.length });
  }
  expect(await redis.llen(s.keys.recent())).toBe(200);
  expect(await s.queue.getFailedCount()).toBe(0);
  // The jobs the killed worker held were taken over by the new one (a stalled job each).
  expect(activeAtKill).toBeGreaterThan(0);
  expect(second.output()).toContain('usage job stalled');
  console.info(
    `kill -9 after ${atKill} of 200 counted, ${activeAtKill} jobs active at the kill; after recovery: ${total.requests} requests, 80 duplicates ignored`,
  );
});

it('lets active jobs finish on SIGTERM and exits 0, well before its close timeout', async () => {
  const s = setup();
  // A close timeout far beyond what four jobs take, however loaded the machine: only a close that never ends hits it.
  const svc = await s.start({ WORKER_CLOSE_TIMEOUT_MS: '60000' });
  const jobs = Array.from({ length: 60 }, (_, i) => usageJob(i, 30_000));
  await addAll(s.queue, jobs);
  await waitFor('some jobs to be counted', async () => (await counted(s)) >= 5, {
    timeoutMs: 30_000,
    detail: () => svc.output(),
  });

  const activeAtSignal = await s.queue.getActiveCount();
  svc.proc.kill('SIGTERM');
  expect(await svc.exited()).toEqual({ code: 0, signal: null });
  // Nothing was left mid-way for a stalled check to recover: every job it started, it finished.
  expect(activeAtSignal).toBeGreaterThan(0);
  expect(await s.queue.getActiveCount()).toBe(0);
  // Each job it finished was counted and deleted; the rest wait for the next worker.
  const left = await pending(s);
  expect(await counted(s)).toBe(60 - left);
  expect(
    await jobsStored(
      s,
      jobs.map((j) => j.requestId),
    ),
  ).toBe(left);
  // The active jobs ended by themselves, not by the timeout.
  const stopped = svc
    .output()
    .split('\n')
    .filter((l) => l.includes('"stopped"'))
    .map((l) => JSON.parse(l) as unknown);
  expect(stopped).toEqual([expect.objectContaining({ message: 'stopped', timedOut: false })]);
});

it('fails a payload that can never be counted at once, logging its id and never its text, and counts the job behind it', async () => {
  const s = setup();
  const svc = await s.start({ LOG_LEVEL: 'debug' });
  const good = usageJob(1);
  const bad = { ...usageJob(2), keyId: 'key with spaces' };
  // The bad one first: a job that fails never holds up the ones queued after it.
  await addAll(s.queue, [bad, good]);
  await waitFor('the bad job to fail', async () => (await s.queue.getFailedCount()) === 1 && (await counted(s)) === 1, {
    timeoutMs: 30_000,
    detail: () => svc.output(),
  });
  // Its totals are visible a moment before BullMQ removes the counted job (on completion, after the handler returned).
  await waitFor('the counted job to be removed', async () => (await s.queue.getJob(good.requestId)) === undefined, {
    timeoutMs: 30_000,
    detail: () => svc.output(),
  });

  // The failed job is kept for inspection (deleted after 24 h); the counted one is gone.
  const failed = await s.queue.getJob(bad.requestId);
  expect(failed?.attemptsMade).toBe(1);
  expect(failed?.opts.attempts).toBe(JobCatalog.usage.defaults.attempts);
  expect(failed?.opts.removeOnFail).toEqual({ age: 86_400 });
  await svc.waitForOutput(/usage job failed/);
  const lines = svc.output().split('\n');
  expect(lines.find((l) => l.includes('usage job failed'))).toContain(bad.requestId);
  expect(lines.find((l) => l.includes('usage job handled'))).toContain(good.requestId);
  for (const job of [good, bad])
    expect(svc.output()).not.toContain(String(job.prompt?.blocks[0]?.block.text).slice(0, 20));
});

it("traces with an OTLP endpoint: says so once, a span per job linked to its request's, the last ones exported at SIGTERM", async () => {
  const otlp = await startOtlpReceiver();
  try {
    const s = setup();
    const svc = await s.start({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, LOG_LEVEL: 'debug' });
    const trace = randomBytes(16).toString('hex');
    const requestSpan = randomBytes(8).toString('hex');
    const traceparent = `00-${trace}-${requestSpan}-01`;
    const good = { ...usageJob(1, 30), traceparent };
    const bad = { ...usageJob(2, 30), keyId: 'key with spaces', traceparent };
    await addAll(s.queue, [bad, good]);
    await waitFor(
      'one job counted, one failed',
      async () => (await counted(s)) === 1 && (await s.queue.getFailedCount()) === 1,
      {
        timeoutMs: 30_000,
        detail: () => svc.output(),
      },
    );
    await waitFor('the counted job to be removed', async () => (await s.queue.getJob(good.requestId)) === undefined, {
      timeoutMs: 30_000,
      detail: () => svc.output(),
    });
    // The SDK batches spans: whatever it still holds goes out before the exit.
    svc.proc.kill('SIGTERM');
    expect(await svc.exited()).toEqual({ code: 0, signal: null });

    const spans = otlp.spans().filter((sp) => sp.links.some((l) => l.traceId === trace));
    expect(spans.map((sp) => sp.name).sort()).toEqual([`usage ${bad.requestId}`, `usage ${good.requestId}`].sort());
    for (const span of spans) {
      expect(span).toMatchObject({ service: 'switchyard-worker', scope: 'switchyard', kind: 'CONSUMER' });
      expect(span.parentSpanId).toBeUndefined();
      expect(span.traceId).not.toBe(trace);
      expect(span.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId }))).toEqual([
        { traceId: trace, spanId: requestSpan },
      ]);
      expect(span.resource['service.instance.id']).toBe(hostname());
    }
    const ok = spans.find((sp) => sp.name === `usage ${good.requestId}`);
    expect(ok?.status.code).toBe('UNSET');
    expect(ok?.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.destination.name': 'usage',
      'messaging.message.id': good.requestId,
      'gen_ai.request.model': 'claude-sonnet-4-6',
      'gen_ai.usage.input_tokens': 101 + 1,
      'gen_ai.usage.output_tokens': 7,
      'switchyard.request_id': good.requestId,
    });
    const failed = spans.find((sp) => sp.name === `usage ${bad.requestId}`);
    expect(failed?.status.code).toBe('ERROR');
    expect(failed?.attributes['error.type']).toBe('UnrecoverableError');
    // Not a word of the conversation in what was exported.
    for (const job of [good, bad]) {
      const text = String(job.prompt?.blocks[0]?.block.text).slice(0, 20);
      for (const sent of otlp.exports()) expect(sent.body).not.toContain(text);
    }

    // One start line naming the collector; the job lines name the request's trace.
    const lines = svc.output().split('\n');
    expect(lines.filter((l) => l.includes('"tracing on"'))).toEqual([
      expect.stringContaining(`"collector":"${otlp.url}"`),
    ]);
    for (const [message, job] of [
      ['usage job handled', good],
      ['usage job failed', bad],
    ] as const)
      expect(lines.find((l) => l.includes(message) && l.includes(job.requestId))).toContain(`"traceId":"${trace}"`);
  } finally {
    await otlp.close();
  }
});

it('refuses to start with a bad environment, naming every bad variable', async () => {
  const svc = spawnService(ENTRY, {
    REDIS_URL: 'http://127.0.0.1:6379',
    WORKER_CONCURRENCY: '0',
    TOKEN_ENCODING: 'o300k',
    OTEL_TRACES_SAMPLER: 'sometimes',
  });
  services.push(svc);
  const { code } = await svc.exited();
  expect(code).not.toBe(0);
  for (const name of ['REDIS_URL', 'WORKER_CONCURRENCY', 'TOKEN_ENCODING', 'OTEL_TRACES_SAMPLER'])
    expect(svc.output()).toContain(name);
  expect(svc.output()).not.toContain('worker ready');
});

it('rides out a Redis restart, saying so once, and counts what was queued before and after', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-worker-redis-'));
  let server = await startRedisServer({ dataDir });
  const client = new Redis(server.url, { maxRetriesPerRequest: null });
  client.on('error', () => undefined);
  try {
    const s = setup(client, server.url);
    const svc = await s.start();
    await addAll(
      s.queue,
      Array.from({ length: 5 }, (_, i) => usageJob(i)),
    );
    await waitFor('the first jobs', async () => (await counted(s, client)) === 5, {
      timeoutMs: 30_000,
      detail: () => svc.output(),
    });
    // Counted is not yet finished: each job's move to completed follows its count. Stop Redis once it is idle.
    await waitFor(
      'the first jobs finished',
      async () => {
        const c = await s.queue.getJobCounts('active', 'waiting', 'delayed');
        return (c.active ?? 0) + (c.waiting ?? 0) + (c.delayed ?? 0) === 0;
      },
      { timeoutMs: 30_000, detail: () => svc.output() },
    );

    await server.stop();
    await svc.waitForOutput(/redis unreachable/, 30_000);
    server = await startRedisServer({ dataDir, port: server.port });
    await svc.waitForOutput(/redis reachable again/, 30_000);
    await addAll(
      s.queue,
      Array.from({ length: 5 }, (_, i) => usageJob(100 + i)),
    );
    await waitFor('the jobs added after the restart', async () => (await counted(s, client)) === 10, {
      timeoutMs: 30_000,
      detail: () => svc.output(),
    });

    const lines = svc.output().split('\n');
    expect(lines.filter((l) => l.includes('redis unreachable'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('"level":"error"'))).toEqual([]);
  } finally {
    client.disconnect();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
});
