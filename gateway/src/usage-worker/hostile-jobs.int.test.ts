// Every request that reached a node is counted, whatever its shape: hostile prompts go through the gateway's
// recorder onto a real BullMQ queue (JSON, as in production) and through the worker's handler into a real
// Redis. The exact usage is always recorded; the estimate is exact, or flagged approximate where a block
// could not travel as it was (its stand-in's text is the block's countable text, so the number still agrees).
import { Queue, UnrecoverableError } from 'bullmq';
import { Redis } from 'ioredis';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  blockHash,
  blockIdentity,
  countableText,
  createIoRedisStore,
  createKeyspace,
  promptBlocks,
  JobCatalog,
  queuePrefix,
  RecentRequestSchema,
  utcDay,
  type ContentBlock,
  type JobData,
  type PromptParts,
  type UsageJob,
} from '@switchyard/shared';
import {
  deleteKeys,
  freePort,
  testRedisUrl,
  uniquePrefix,
  nestedArrays,
  nestedObjects,
  recordingLog,
  type LogLine,
} from '@switchyard/testkit';
import { createKnownHashes } from '../usage/known-hashes.js';
import { createPromptDigester, undigestedPrompt } from '../usage/prompt-digest.js';
import type { CaptureResult } from '../usage/response-capture.js';
import type { UsageDraft } from '../usage/usage-draft.js';
import { createUsageRecorder, type UsageRecorder } from '../usage/usage-recorder.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';
import { createUsageHandler, type UsageHandler } from './usage-handler.js';

const DEEP = 20_000;

const USAGE = {
  inputTokens: 120,
  outputTokens: 33,
  cacheCreationInputTokens: 40,
  cacheCreation5mInputTokens: 40,
  cacheCreation1hInputTokens: 0,
  cacheReadInputTokens: 7,
};
const EXACT = {
  requests: '1',
  inputTokens: '120',
  outputTokens: '33',
  cacheCreationInputTokens: '40',
  cacheCreation5mInputTokens: '40',
  cacheReadInputTokens: '7',
};
const ANSWER = 'Counted all the same.';
const CAPTURED: CaptureResult = {
  usage: USAGE,
  stopReason: 'end_turn',
  endedCleanly: true,
  output: { kind: 'message', content: [{ type: 'text', text: ANSWER }] },
  shortfall: 'none',
};

const prefix = uniquePrefix('hostile');
const keys = createKeyspace(prefix);
let redis: Redis;
let producer: Redis;
let reader: Queue<JobData<'usage'>>;
let recorder: UsageRecorder;
let spoolDir: string;
let tokenizer: Tokenizer;
let handler: UsageHandler;
const recorderLines: LogLine[] = [];
const recorderLog = recordingLog(recorderLines);
const workerLog = recordingLog([]);

beforeAll(async () => {
  redis = new Redis(testRedisUrl());
  tokenizer = await createTokenizer('o200k_base');
  // A budget no test comes near: which estimates are approximate must not depend on this machine's speed.
  handler = createUsageHandler({
    store: createIoRedisStore(redis),
    keys,
    tokenizer,
    encoding: 'o200k_base',
    ttlSeconds: 3_600,
    retentionDays: 2,
    log: workerLog,
    tokenizerBudgetMs: 600_000,
  });
  // The producer as main.ts makes it: its own connection, a real BullMQ queue, the digester asking Redis.
  producer = new Redis(testRedisUrl(), { enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  if (producer.status !== 'ready') await new Promise((r) => producer.once('ready', r));
  const queue = new Queue('usage', { connection: producer, prefix: queuePrefix(prefix) });
  reader = new Queue<JobData<'usage'>>(JobCatalog.usage.queue, { connection: redis, prefix: queuePrefix(prefix) });
  spoolDir = await mkdtemp(join(tmpdir(), 'sy-hostile-'));
  const digester = createPromptDigester({
    mget: (k) => producer.mget(...k),
    keys,
    encoding: 'o200k_base',
    known: createKnownHashes(),
  });
  recorder = createUsageRecorder({
    queue: { add: (n, d, o) => queue.add(n, d, o), close: () => queue.close() },
    connection: producer,
    digester,
    spoolDir,
    bufferMax: 100,
    log: recorderLog,
  });
  await recorder.start();
});
afterAll(async () => {
  await recorder?.stop();
  await reader?.close();
  producer?.disconnect();
  if (spoolDir) await rm(spoolDir, { recursive: true, force: true });
  if (redis) {
    await deleteKeys(redis, prefix);
    await redis.quit();
  }
});

let seq = 0;
function draft(parts: PromptParts | undefined, extra: Partial<UsageDraft> = {}): UsageDraft {
  seq += 1;
  return {
    requestId: `req_hostile_${seq}_${process.pid}`,
    at: Date.now(),
    keyId: `key-${seq}`,
    nodeId: 'node-1',
    model: 'claude-sonnet-4-6',
    stream: false,
    status: 200,
    durationMs: 10,
    ttfbMs: 2,
    aborted: false,
    brokeMidStream: false,
    accountKind: null,
    sticky: 'none',
    route: 'messages',
    capture: { result: () => CAPTURED },
    ...(parts ? { prompt: parts } : {}),
    ...extra,
  };
}

/** Records the draft as the route does, and hands the queued job to the worker's handler as BullMQ would. */
async function throughTheChain(d: UsageDraft): Promise<void> {
  expect(() => recorder.record(d)).not.toThrow();
  await recorder.drained();
  const queued = await reader.getJob(d.requestId);
  if (queued === undefined) throw new Error(`job ${d.requestId} was not queued: ${JSON.stringify(recorderLines)}`);
  expect((await handler.handle(queued.data)).counted).toBe(true);
}

async function countedRow(d: Pick<UsageDraft, 'keyId' | 'at'>): Promise<Record<string, string>> {
  return redis.hgetall(keys.usage('key', d.keyId, utcDay(d.at)));
}

/** The worker's tokeniser on the text the model reads of each block: what an exact estimate is. */
const estimateOf = (blocks: readonly ContentBlock[]) =>
  blocks.reduce((sum, b) => sum + tokenizer.count(countableText(b)), 0);

const HOSTILE: [string, PromptParts][] = [
  ['messages nested 20,000 deep', { system: 'be brief', messages: nestedArrays(DEEP, { role: 'user', content: 'x' }) }],
  [
    'content nested 20,000 deep',
    {
      messages: [
        { role: 'user', content: nestedArrays(DEEP, 'x') },
        { role: 'user', content: ['q', nestedArrays(DEEP, 'x')] },
      ],
    },
  ],
  [
    'a text block with a field nested 20,000 deep',
    { messages: [{ role: 'user', content: [{ type: 'text', text: 'what is deep?', extra: nestedObjects(DEEP, 1) }] }] },
  ],
  [
    'tool input nested 20,000 deep',
    {
      messages: [
        { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'X', input: nestedObjects(DEEP, 'leaf') }] },
      ],
    },
  ],
  [
    'tool results nested in tool results 20,000 deep',
    {
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 't',
              content: nestedArrays(DEEP, { type: 'tool_result', content: 'inner' }),
            },
          ],
        },
      ],
    },
  ],
  [
    'system nested 20,000 deep',
    {
      system: [{ type: 'text', text: 'sys', citations: nestedArrays(DEEP, {}) }, nestedObjects(DEEP, 's')],
      messages: [],
    },
  ],
  ['messages that are a string, a number, an object', { messages: 'hello', system: 42, tools: { name: 'x' } }],
  [
    'null, number and nested-array blocks',
    { messages: [{ role: 'user', content: [null, 1, [[['x']]], true, { type: 'text', text: 'ok' }] }, null, 3] },
  ],
  [
    'lone surrogates',
    {
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'a\uD800b\uDFFFc' },
            { type: 'tool_use', input: { '\uDC00': '\uD83D' } },
          ],
        },
      ],
    },
  ],
  [
    'tool inputs of every shape',
    {
      messages: [
        {
          role: 'assistant',
          content: [null, 42, 'str', [1, [2]], true, {}].map((input, i) => ({
            type: 'tool_use',
            id: `t${i}`,
            name: 'X',
            input,
          })),
        },
      ],
    },
  ],
  [
    'a system array of non-objects',
    { system: [1, null, 'str', [2], false], messages: [{ role: 'user', content: 'hi' }] },
  ],
  [
    'an own __proto__ key on a block',
    {
      messages: JSON.parse(
        '[{"role":"user","content":[{"type":"text","text":"proto","__proto__":{"polluted":true}}]}]',
      ) as unknown,
    },
  ],
  [
    '100,000-element arrays',
    {
      messages: Array.from({ length: 100_000 }, (_, i) => (i % 2 ? null : { role: 'user', content: 'same again' })),
      tools: [{ name: 'T', input_schema: Array.from({ length: 100_000 }, (_, i) => i) }],
    },
  ],
];

describe.each(HOSTILE)('a request whose prompt has %s', (_label, parts) => {
  it('is counted once with its exact usage; its estimate agrees, flagged approximate where a block travelled as a stand-in', async () => {
    const d = draft(parts);
    await throughTheChain(d);
    const blocks = promptBlocks(parts);
    const standIns = blocks.some((b) => blockIdentity(b).standIn);
    const row = await countedRow(d);
    expect(row).toMatchObject(EXACT);
    expect(Number(row.estimatedInputTokens ?? 0)).toBe(estimateOf(blocks));
    expect(Number(row.estimatedOutputTokens ?? 0)).toBe(tokenizer.count(ANSWER));
    expect(row.approximateEstimates).toBe(standIns ? '1' : undefined);
    expect(row.estimateMissingBlocks).toBeUndefined();
    const recent = RecentRequestSchema.parse(JSON.parse((await redis.lindex(keys.recent(), 0)) as string));
    expect(recent).toMatchObject({ requestId: d.requestId, inputTokens: 120, estimateApproximate: standIns });
  });
});

it('the stand-in cases above are the deep ones and the __proto__ one, and only those', () => {
  const withStandIns = HOSTILE.filter(([, parts]) => promptBlocks(parts).some((b) => blockIdentity(b).standIn)).map(
    ([label]) => label,
  );
  expect(withStandIns).toEqual([
    'a text block with a field nested 20,000 deep',
    'tool input nested 20,000 deep',
    'tool results nested in tool results 20,000 deep',
    'system nested 20,000 deep',
    'an own __proto__ key on a block',
  ]);
});

it('counts the same deep block sent again from the table, still flagged, without tokenising it again', async () => {
  const parts = HOSTILE[3]![1];
  await throughTheChain(draft(parts));
  const before = tokenizer.calls;
  const d = draft(parts);
  await throughTheChain(d);
  // The stand-in's count comes from the table (kept as ~N, so still flagged), and so does the answer's.
  expect(tokenizer.calls - before).toBe(0);
  expect(await countedRow(d)).toMatchObject({
    ...EXACT,
    approximateEstimates: '1',
    estimatedInputTokens: String(estimateOf(promptBlocks(parts))),
  });
});

it('counts a model name that cannot be part of a key under one that can (it used to fail the job for good)', async () => {
  const d = draft({ messages: [{ role: 'user', content: 'hi' }] }, { model: 'claude sonnet\t4' });
  await throughTheChain(d);
  expect(await countedRow(d)).toMatchObject(EXACT);
  expect(await redis.hgetall(keys.usage('model', 'claude_sonnet_4', utcDay(d.at)))).toMatchObject({ requests: '1' });
});

describe('the handler alone', () => {
  function job(overrides: Partial<UsageJob>): UsageJob {
    seq += 1;
    return {
      requestId: `req_handler_${seq}_${process.pid}`,
      at: Date.now(),
      keyId: `key-h${seq}`,
      nodeId: 'node-1',
      model: 'claude-sonnet-4-6',
      stream: true,
      status: 200,
      durationMs: 10,
      ttfbMs: 2,
      aborted: false,
      brokeMidStream: false,
      accountKind: null,
      sticky: 'none',
      route: 'messages',
      usage: USAGE,
      stopReason: 'end_turn',
      endedCleanly: true,
      prompt: null,
      output: null,
      ...overrides,
    };
  }

  it('counts a job from an older gateway that shipped a block nested 20,000 deep as it was: exactly', async () => {
    const block: ContentBlock = { type: 'tool_use', id: 't', name: 'X', input: nestedArrays(DEEP, 'old') };
    const j = job({ prompt: { hashes: [blockHash(block)], blocks: [{ hash: blockHash(block), block }] } });
    expect(await handler.handle(j)).toMatchObject({
      counted: true,
      approximate: false,
      estimatedInputTokens: tokenizer.count(countableText(block)),
    });
    expect(await countedRow(j)).toMatchObject(EXACT);
  });

  it('counts a stream whose tool input is nested 20,000 deep and whose block indexes are huge, the deep block as its stand-in', async () => {
    const frame = (event: string, data: unknown) => ({ event, data: JSON.stringify(data) });
    const deepInput = '['.repeat(DEEP) + '7' + ']'.repeat(DEEP);
    const events = [
      frame('content_block_start', {
        index: 4_294_967_294,
        content_block: { type: 'tool_use', id: 't', name: 'X', input: {} },
      }),
      {
        event: 'content_block_delta',
        data: `{"index":4294967294,"delta":{"type":"input_json_delta","partial_json":${JSON.stringify(deepInput)}}}`,
      },
      frame('content_block_start', { index: 0, content_block: { type: 'text', text: 'before' } }),
    ];
    const j = job({ output: { kind: 'sse', events } });
    expect(await handler.handle(j)).toMatchObject({
      counted: true,
      approximate: true,
      estimatedOutputTokens: tokenizer.count('before') + tokenizer.count(deepInput),
    });
    expect(await countedRow(j)).toMatchObject({ ...EXACT, approximateEstimates: '1' });
  });

  it('counts the undigested prompt (the gateway could not digest it) with an estimate of 0, flagged approximate', async () => {
    const j = job({ prompt: undigestedPrompt() });
    expect(await handler.handle(j)).toMatchObject({ counted: true, approximate: true, estimatedInputTokens: 0 });
    expect(await countedRow(j)).toMatchObject({ ...EXACT, approximateEstimates: '1' });
  });

  it('records the exact usage with the estimate flagged approximate when estimating throws, logging one line without text', async () => {
    const throwing: Tokenizer = {
      encoding: 'o200k_base',
      calls: 0,
      count: () => {
        throw new RangeError('Maximum call stack size exceeded near "private words"');
      },
      measure: () => {
        throw new RangeError('Maximum call stack size exceeded near "private words"');
      },
    };
    const lines: LogLine[] = [];
    const log = recordingLog(lines);
    const fragile = createUsageHandler({
      store: createIoRedisStore(redis),
      keys,
      tokenizer: throwing,
      encoding: 'o200k_base',
      ttlSeconds: 3_600,
      retentionDays: 2,
      log,
    });
    const block: ContentBlock = { type: 'text', text: `private words ${seq} ${process.pid}` };
    const j = job({ prompt: { hashes: [blockHash(block)], blocks: [{ hash: blockHash(block), block }] } });
    expect(await fragile.handle(j)).toMatchObject({ counted: true, approximate: true, estimatedInputTokens: 0 });
    expect(await countedRow(j)).toMatchObject({ ...EXACT, approximateEstimates: '1' });
    expect(lines.filter((l) => l.level !== 'debug')).toEqual([
      {
        level: 'warn',
        message: 'usage estimate failed: counted with exact usage, estimate approximate',
        meta: { requestId: j.requestId, error: 'RangeError' },
      },
    ]);
    expect(JSON.stringify(lines)).not.toContain('private');
    // Exactly once still: the same job again counts nothing.
    expect(await fragile.handle(j)).toMatchObject({ counted: false });
    expect(await countedRow(j)).toMatchObject({ requests: '1' });
  });

  it('leaves a Redis that does not answer the block lookup to the retries: no approximate count is made of it', async () => {
    // Nothing listens on this port, and the client fails commands at once instead of queueing them.
    const away = new Redis({
      port: await freePort(),
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    away.on('error', () => undefined);
    const lines: LogLine[] = [];
    const log = recordingLog(lines);
    const cut = createUsageHandler({
      store: createIoRedisStore(away),
      keys,
      tokenizer,
      encoding: 'o200k_base',
      ttlSeconds: 3_600,
      retentionDays: 2,
      log,
    });
    const block: ContentBlock = { type: 'text', text: `unknown to this process ${seq}` };
    const failure = await cut
      .handle(job({ prompt: { hashes: [blockHash(block)], blocks: [{ hash: blockHash(block), block }] } }))
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    away.disconnect();
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(UnrecoverableError);
    expect(lines.map((l) => l.message)).not.toContain(
      'usage estimate failed: counted with exact usage, estimate approximate',
    );
  });
});
