// The usage worker's job span (docs/TRACING.md), from real parts: a BullMQ worker running the processor main.ts
// makes, the real handler over a real Redis, and a real tracer provider registered globally (as startTracing
// registers one) whose spans are kept in memory. One CONSUMER span per attempt, linked (not parented) to the
// request's span, with the usage and none of the conversation; the job's log line names the request's trace
// whether or not the worker traces; with tracing off, no span at all.
import { randomBytes } from 'node:crypto';
import { Queue, Worker, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import {
  blockHash,
  createIoRedisStore,
  createKeyspace,
  JobCatalog,
  queuePrefix,
  SpanKind,
  SpanStatusCode,
  type JobData,
  type Keyspace,
  type UsageJob,
} from '@switchyard/shared';
import {
  deleteKeys,
  recordingLog,
  registerTestTracing,
  testRedisUrl,
  uniquePrefix,
  waitFor,
  type LogLine,
  type ReadableSpan,
  type TestTracing,
} from '@switchyard/testkit';
import { createTokenizer, type Tokenizer } from './tokenizer.js';
import { createUsageHandler, type UsageOutcome, type UsageStore } from './usage-handler.js';
import { createUsageProcessor } from './usage-processor.js';

jest.setTimeout(60_000);

const QUEUE = JobCatalog.usage.queue;
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${SPAN_ID}-01`;
// Sentinels: the conversation's text, which no span may carry.
const PROMPT = 'SENTINEL-PROMPT-never-in-a-span';
const ANSWER = 'SENTINEL-ANSWER-never-in-a-span';
const WAIT = { timeoutMs: 30_000, intervalMs: 20 };

let redis: Redis;
let tokenizer: Tokenizer;
let exporter: TestTracing['exporter'];
let tracing: TestTracing;
const prefixes: string[] = [];
const closing: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  // BullMQ's blocking commands must wait out a reconnect, as in main.ts.
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  tokenizer = await createTokenizer('o200k_base');
  tracing = registerTestTracing();
  exporter = tracing.exporter;
});
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c.close();
});
afterAll(async () => {
  await tracing.stop();
  for (const prefix of prefixes) await deleteKeys(redis, prefix);
  await redis.quit();
});

interface Running {
  keys: Keyspace;
  queue: Queue;
  lines: LogLine[];
  /** Adds the job under its request id, as the gateway does (retried quickly here). */
  add(data: unknown, opts?: JobsOptions & { jobId?: string }): Promise<void>;
  /** The 'usage job handled' lines of a request, once `count` of them were written. */
  handled(requestId: string, count?: number): Promise<LogLine[]>;
  /** The job's spans once `count` of them ended. */
  spans(jobName: string, count?: number): Promise<ReadableSpan[]>;
}

/** A worker on a queue of its own, as main.ts builds it: the handler, the processor, a BullMQ Worker. */
async function startWorker(opts: { tracing: boolean; store?: (real: UsageStore) => UsageStore }): Promise<Running> {
  const prefix = uniquePrefix('usage-span');
  prefixes.push(prefix);
  const keys = createKeyspace(prefix);
  const lines: LogLine[] = [];
  const real = createIoRedisStore(redis);
  const handler = createUsageHandler({
    store: opts.store ? opts.store(real) : real,
    keys,
    tokenizer,
    encoding: 'o200k_base',
    ttlSeconds: 3_600,
    retentionDays: 2,
    log: recordingLog(lines),
    tokenizerBudgetMs: 600_000,
  });
  const processor = createUsageProcessor({ handler, queue: QUEUE, tracing: opts.tracing });
  const worker = new Worker<JobData<'usage'>, UsageOutcome>(QUEUE, processor, {
    connection: redis,
    prefix: queuePrefix(prefix),
    concurrency: 4,
  });
  worker.on('error', () => undefined);
  const queue = new Queue(QUEUE, { connection: redis, prefix: queuePrefix(prefix) });
  closing.push(queue, worker);
  await worker.waitUntilReady();
  return {
    keys,
    queue,
    lines,
    async add(data, jobOpts = {}) {
      const jobId = jobOpts.jobId ?? (data as UsageJob).requestId;
      await queue.add('usage', data, {
        ...JobCatalog.usage.defaults,
        backoff: { type: 'fixed', delay: 10 },
        ...jobOpts,
        jobId,
      });
    },
    handled: (requestId, count = 1) =>
      waitFor(
        `${count} 'usage job handled' line(s) of ${requestId}`,
        () => {
          const found = lines.filter((l) => l.message === 'usage job handled' && l.meta.requestId === requestId);
          return found.length >= count ? found : undefined;
        },
        WAIT,
      ),
    spans: (jobName, count = 1) =>
      waitFor(
        `${count} span(s) named ${jobName}`,
        () => {
          const found = exporter.getFinishedSpans().filter((s) => s.name === jobName);
          return found.length >= count ? found : undefined;
        },
        WAIT,
      ),
  };
}

/** A finished streamed request whose prompt and answer hold the sentinels, with cache reads and writes. */
function usageJob(overrides: Partial<UsageJob> = {}): UsageJob {
  const block = { type: 'text', text: `${PROMPT} ${randomBytes(6).toString('hex')}` };
  const hash = blockHash(block);
  return {
    requestId: `req_${randomBytes(8).toString('hex')}`,
    at: Date.now(),
    keyId: 'key_alpha',
    nodeId: 'node-a',
    model: 'claude-sonnet-4-6',
    stream: false,
    status: 200,
    durationMs: 812,
    ttfbMs: 95,
    aborted: false,
    brokeMidStream: false,
    accountKind: 'oauth',
    sticky: 'none',
    route: 'messages',
    usage: {
      inputTokens: 21,
      outputTokens: 9,
      cacheCreationInputTokens: 300,
      cacheCreation5mInputTokens: 100,
      cacheCreation1hInputTokens: 200,
      cacheReadInputTokens: 4_000,
    },
    stopReason: 'end_turn',
    endedCleanly: true,
    prompt: { hashes: [hash], blocks: [{ hash, block }] },
    output: { kind: 'message', content: [{ type: 'text', text: ANSWER }] },
    traceparent: TRACEPARENT,
    ...overrides,
  };
}

/** Every string a span carries: its name, attribute values, events and their attributes, links and theirs. */
function everyValue(spans: ReadableSpan[]): string[] {
  const values: string[] = [];
  for (const s of spans) {
    values.push(s.name, String(s.status.message));
    for (const v of Object.values(s.attributes)) values.push(String(v));
    for (const e of s.events) {
      values.push(e.name);
      for (const v of Object.values(e.attributes ?? {})) values.push(String(v));
    }
    for (const l of s.links) for (const v of Object.values(l.attributes ?? {})) values.push(String(v));
  }
  return values;
}

const linksOf = (span: ReadableSpan) =>
  span.links.map((l) => ({ traceId: l.context.traceId, spanId: l.context.spanId }));

/** The job's messaging attributes. */
const messaging = (jobId: string) => ({
  'messaging.system': 'bullmq',
  'messaging.operation.type': 'process',
  'messaging.destination.name': 'usage',
  'messaging.message.id': jobId,
});

describe('tracing on', () => {
  it("makes one CONSUMER span per job, the root of its own trace, linked to the request's span, with the usage", async () => {
    const w = await startWorker({ tracing: true });
    const job = usageJob();
    await w.add(job);
    const [span] = await w.spans(`usage ${job.requestId}`);

    expect(span!.kind).toBe(SpanKind.CONSUMER);
    expect(span!.parentSpanContext).toBeUndefined();
    expect(span!.spanContext().traceId).not.toBe(TRACE_ID);
    expect(linksOf(span!)).toEqual([{ traceId: TRACE_ID, spanId: SPAN_ID }]);
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
    // Every attribute, and nothing else: gen_ai.usage.input_tokens includes the cached tokens, as the GenAI
    // conventions ask (Anthropic's input_tokens does not).
    expect(span!.attributes).toEqual({
      ...messaging(job.requestId),
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-4-6',
      'gen_ai.usage.input_tokens': 21 + 4_000 + 300,
      'gen_ai.usage.output_tokens': 9,
      'gen_ai.usage.cache_read.input_tokens': 4_000,
      'gen_ai.usage.cache_creation.input_tokens': 300,
      'switchyard.request_id': job.requestId,
      'switchyard.key_id': 'key_alpha',
    });
    expect(span!.events).toEqual([]);
    for (const value of everyValue([span!])) {
      expect(value).not.toContain('SENTINEL');
    }

    // The log line names the request's trace (the gateway's), not the worker's own.
    const [line] = await w.handled(job.requestId);
    expect(line!.meta).toMatchObject({ counted: true, traceId: TRACE_ID });
    expect(await redis.hget(w.keys.usageAllTime(), 'requests')).toBe('1');
  });

  it('leaves the usage unset when the job has none, and has no link when the job has no traceparent', async () => {
    const w = await startWorker({ tracing: true });
    const withoutTrace = usageJob({ usage: null, status: 529, output: null });
    delete withoutTrace.traceparent;
    await w.add(withoutTrace);
    const [span] = await w.spans(`usage ${withoutTrace.requestId}`);
    expect(span!.links).toEqual([]);
    expect(span!.attributes).toEqual({
      ...messaging(withoutTrace.requestId),
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': 'claude-sonnet-4-6',
      'switchyard.request_id': withoutTrace.requestId,
      'switchyard.key_id': 'key_alpha',
    });
    const [line] = await w.handled(withoutTrace.requestId);
    expect(line!.meta.traceId).toBeUndefined();
  });

  it('makes one span per attempt: a failed one with its error type, then the retry that counts it, once', async () => {
    // The first write reaches Redis and its answer is lost: the retry finds the request counted.
    let lose = 1;
    class ReplyLost extends Error {
      override readonly name = 'ReplyLost';
    }
    const w = await startWorker({
      tracing: true,
      store: (real) => ({
        readAndRenew: (...args) => real.readAndRenew(...args),
        writeOnce: async (...args) => {
          const written = await real.writeOnce(...args);
          if (lose-- > 0) throw new ReplyLost(`${PROMPT} in a message`);
          return written;
        },
      }),
    });
    const job = usageJob();
    await w.add(job);
    const spans = await w.spans(`usage ${job.requestId}`, 2);
    expect(spans.map((s) => ({ status: s.status.code, errorType: s.attributes['error.type'] }))).toEqual([
      { status: SpanStatusCode.ERROR, errorType: 'ReplyLost' },
      { status: SpanStatusCode.UNSET, errorType: undefined },
    ]);
    for (const span of spans) expect(linksOf(span)).toEqual([{ traceId: TRACE_ID, spanId: SPAN_ID }]);
    // Neither the error's message nor an exception event reaches the span.
    expect(spans[0]!.events).toEqual([]);
    for (const value of everyValue(spans)) expect(value).not.toContain('SENTINEL');

    const [line] = await w.handled(job.requestId);
    expect(line!.meta).toMatchObject({ counted: false, traceId: TRACE_ID });
    expect(await redis.hget(w.keys.usageAllTime(), 'requests')).toBe('1');
    expect(await redis.hget(w.keys.usageAllTime(), 'inputTokens')).toBe('21');
  });

  it('fails a payload that can never be counted in a span of its own, once, keeping its link and none of its text', async () => {
    const w = await startWorker({ tracing: true });
    await w.add({ requestId: 'req_bad', traceparent: TRACEPARENT, prompt: PROMPT }, { jobId: 'bad-1' });
    await w.add(null, { jobId: 'bad-null' });
    const [bad] = await w.spans('usage bad-1');
    const [nothing] = await w.spans('usage bad-null');
    for (const span of [bad!, nothing!]) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.attributes['error.type']).toBe('UnrecoverableError');
    }
    expect(bad!.attributes).toEqual({ ...messaging('bad-1'), 'error.type': 'UnrecoverableError' });
    expect(linksOf(bad!)).toEqual([{ traceId: TRACE_ID, spanId: SPAN_ID }]);
    expect(nothing!.links).toEqual([]);
    for (const value of everyValue([bad!, nothing!])) expect(value).not.toContain('SENTINEL');
    // Failed for good, not retried: one span each.
    await waitFor('both failed', async () => (await w.queue.getFailedCount()) === 2, WAIT);
    expect(exporter.getFinishedSpans().filter((s) => s.name.startsWith('usage bad-'))).toHaveLength(2);
  });
});

describe('tracing off', () => {
  it("makes no span, and the job's log line still names the request's trace", async () => {
    // The provider is registered all the same: a span the processor made would be recorded.
    const w = await startWorker({ tracing: false });
    const job = usageJob();
    await w.add(job);
    const [line] = await w.handled(job.requestId);
    expect(line!.meta).toMatchObject({ counted: true, traceId: TRACE_ID });
    await waitFor(
      'the job completed and removed',
      async () => (await w.queue.getJob(job.requestId)) === undefined,
      WAIT,
    );
    expect(exporter.getFinishedSpans().filter((s) => s.name.includes(job.requestId))).toEqual([]);
    expect(await redis.hget(w.keys.usageAllTime(), 'requests')).toBe('1');
  });
});
