// The usage handler against a real Redis: exactly-once totals, the per-scope hashes and indexes, the
// recent list, and the block-token table (verification of shipped blocks, eviction, TTL refresh).
import { randomBytes } from 'node:crypto';
import { UnrecoverableError } from 'bullmq';
import { Redis } from 'ioredis';
import { getEncoding } from 'js-tiktoken';
import {
  blockHash,
  countableText,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  loadPriceBook,
  promptBlocks,
  RecentRequestSchema,
  utcDay,
  type ContentBlock,
  type JobData,
  type Keyspace,
  type PromptParts,
  type UsageJob,
} from '@switchyard/shared';
import { deleteKeys, scanKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createTokenizer, type Tokenizer } from './tokenizer.js';
import { createUsageHandler, type UsageHandler } from './usage-handler.js';

const ENCODING = 'o200k_base';
const AT = Date.UTC(2026, 2, 14, 9, 30);
const DAY = utcDay(AT);
const enc = getEncoding(ENCODING);
const tokens = (text: string) => (text === '' ? 0 : enc.encode(text).length);

let redis: Redis;
let tokenizer: Tokenizer;
const prefixes: string[] = [];

beforeAll(async () => {
  redis = new Redis(testRedisUrl());
  tokenizer = await createTokenizer(ENCODING);
});
afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(redis, prefix);
  await redis.quit();
});

/** A handler on a keyspace of its own, so each test reads only its own totals. */
function setup(opts: { ttlSeconds?: number; now?: () => number } = {}): { keys: Keyspace; handler: UsageHandler } {
  const prefix = uniquePrefix('usage-handler');
  prefixes.push(prefix);
  const keys = createKeyspace(prefix);
  const handler = createUsageHandler({
    store: createIoRedisStore(redis),
    keys,
    tokenizer,
    encoding: ENCODING,
    ttlSeconds: opts.ttlSeconds ?? 3_600,
    retentionDays: 2,
    log: createNullLogger(),
    ...(opts.now ? { now: opts.now } : {}),
  });
  return { keys, handler };
}

const unique = (label: string) => `${label} ${randomBytes(6).toString('hex')}`;

/** The prompt as the gateway digests it when the worker knows nothing yet: every distinct block shipped. */
function digestAll(parts: PromptParts): UsageJob['prompt'] {
  const blocks = promptBlocks(parts);
  const shipped = new Map(blocks.map((block) => [blockHash(block), block]));
  return { hashes: blocks.map(blockHash), blocks: [...shipped].map(([hash, block]) => ({ hash, block })) };
}

/** The SSE frames of a streamed answer with the given text. */
function sseText(text: string): UsageJob['output'] {
  const half = Math.floor(text.length / 2);
  const frame = (event: string, data: unknown) => ({
    event,
    data: JSON.stringify({ type: event, ...(data as object) }),
  });
  return {
    kind: 'sse',
    events: [
      frame('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      frame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: text.slice(0, half) } }),
      frame('content_block_delta', { index: 0, delta: { type: 'text_delta', text: text.slice(half) } }),
    ],
  };
}

interface Made {
  job: UsageJob;
  parts: PromptParts;
  answer: string;
}

function makeJob(overrides: Partial<UsageJob> = {}, parts?: PromptParts): Made {
  const prompt: PromptParts = parts ?? {
    system: [{ type: 'text', text: unique('You are terse.'), cache_control: { type: 'ephemeral' } }],
    messages: [{ role: 'user', content: unique('How long is a freight yard?') }],
  };
  const answer = unique('About two kilometres.');
  const job: UsageJob = {
    requestId: `req_${randomBytes(8).toString('hex')}`,
    at: AT,
    keyId: 'key_alpha',
    nodeId: 'node-a',
    model: 'claude-sonnet-4-6',
    stream: true,
    status: 200,
    durationMs: 812.4,
    ttfbMs: 95.6,
    aborted: false,
    brokeMidStream: false,
    accountKind: null,
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
    prompt: digestAll(prompt),
    output: sseText(answer),
    ...overrides,
  };
  return { job, parts: prompt, answer };
}

const promptTokens = (parts: PromptParts) => promptBlocks(parts).reduce((sum, b) => sum + tokens(countableText(b)), 0);

describe('totals', () => {
  it('writes the exact usage and the estimates to the key, node, model, global day hashes and the all-time total', async () => {
    const { keys, handler } = setup();
    const { job, parts, answer } = makeJob();
    const outcome = await handler.handle(job);

    const estimatedInput = promptTokens(parts);
    expect(estimatedInput).toBeGreaterThan(5);
    expect(outcome).toMatchObject({
      counted: true,
      estimatedInputTokens: estimatedInput,
      estimatedOutputTokens: tokens(answer),
      estimateMissingBlocks: 0,
    });
    // Priced by the default price book (usage-cost.int.test.ts checks the figures against genai-prices).
    const priced = loadPriceBook().cost('claude-sonnet-4-6', job.usage!, AT);
    const expected = {
      requests: '1',
      inputTokens: '21',
      outputTokens: '9',
      cacheCreationInputTokens: '300',
      cacheCreation5mInputTokens: '100',
      cacheCreation1hInputTokens: '200',
      cacheReadInputTokens: '4000',
      estimatedInputTokens: String(estimatedInput),
      estimatedOutputTokens: String(tokens(answer)),
      durationMs: '812',
      costMicros: String(priced.costMicros),
      cacheSavingsMicros: String(priced.cacheSavingsMicros),
      // A whole answer is charged its exact tokens: input, cache writes and reads, output.
      chargedTokens: String(21 + 300 + 4000 + 9),
    };
    for (const key of [
      keys.usage('key', 'key_alpha', DAY),
      keys.usage('node', 'node-a', DAY),
      keys.usage('model', 'claude-sonnet-4-6', DAY),
      keys.usage('global', 'all', DAY),
      keys.usageAllTime(),
    ]) {
      expect({ key, hash: await redis.hgetall(key) }).toEqual({ key, hash: expected });
    }
    expect(await redis.smembers(keys.usageIndex('key', DAY))).toEqual(['key_alpha']);
    expect(await redis.smembers(keys.usageIndex('node', DAY))).toEqual(['node-a']);
    expect(await redis.smembers(keys.usageIndex('model', DAY))).toEqual(['claude-sonnet-4-6']);
    // Day hashes expire with the retention; the all-time total never does.
    expect(await redis.ttl(keys.usage('key', 'key_alpha', DAY))).toBeGreaterThan(86_400);
    expect(await redis.ttl(keys.usageAllTime())).toBe(-1);
  });

  it('counts errors and client hang-ups apart, and sums several requests', async () => {
    const { keys, handler } = setup();
    await handler.handle(makeJob().job);
    await handler.handle(
      makeJob({ status: 529, usage: null, output: null, stopReason: null, endedCleanly: false }).job,
    );
    await handler.handle(makeJob({ status: 499, aborted: true, usage: null, output: null, nodeId: 'node-b' }).job);
    await handler.handle(makeJob({ brokeMidStream: true, endedCleanly: false }).job);
    const total = await redis.hgetall(keys.usageAllTime());
    expect(total).toMatchObject({ requests: '4', errors: '2', aborted: '1', inputTokens: '42', outputTokens: '18' });
    expect((await redis.smembers(keys.usageIndex('node', DAY))).sort()).toEqual(['node-a', 'node-b']);
  });

  it('counts a job once when it is handled three times in a row', async () => {
    const { keys, handler } = setup();
    const { job } = makeJob();
    const outcomes = [await handler.handle(job), await handler.handle(job), await handler.handle(job)];
    expect(outcomes.map((o) => o.counted)).toEqual([true, false, false]);
    expect(await redis.hget(keys.usageAllTime(), 'requests')).toBe('1');
    expect(await redis.hget(keys.usage('key', 'key_alpha', DAY), 'inputTokens')).toBe('21');
    expect(await redis.llen(keys.recent())).toBe(1);
  });

  it('counts a job once when three copies are handled at the same time', async () => {
    const { keys, handler } = setup();
    const { job } = makeJob();
    const outcomes = await Promise.all([
      handler.handle(job),
      handler.handle(structuredClone(job)),
      handler.handle(structuredClone(job)),
    ]);
    expect(outcomes.filter((o) => o.counted)).toHaveLength(1);
    expect(await redis.hgetall(keys.usage('node', 'node-a', DAY))).toMatchObject({
      requests: '1',
      inputTokens: '21',
      cacheReadInputTokens: '4000',
    });
    expect(await redis.hget(keys.usageAllTime(), 'requests')).toBe('1');
  });

  it('writes no node hash or node index for a request no node answered', async () => {
    const { keys, handler } = setup();
    await handler.handle(makeJob({ nodeId: null, status: 503, usage: null, output: null }).job);
    const written = await scanKeys(redis, keys.prefix);
    expect(written.filter((k) => k.includes(':node:') || k.includes('usage-ids:node'))).toEqual([]);
    expect(await redis.hgetall(keys.usage('key', 'key_alpha', DAY))).toMatchObject({ requests: '1', errors: '1' });
    expect(await redis.smembers(keys.usageIndex('model', DAY))).toEqual(['claude-sonnet-4-6']);
  });

  it('puts a recent entry with counts and no prompt or answer text', async () => {
    const { keys, handler } = setup();
    const { job, parts, answer } = makeJob();
    await handler.handle(job);
    const raw = await redis.lrange(keys.recent(), 0, -1);
    expect(raw).toHaveLength(1);
    const entry = RecentRequestSchema.parse(JSON.parse(raw[0]!));
    expect(entry).toMatchObject({
      requestId: job.requestId,
      keyId: 'key_alpha',
      nodeId: 'node-a',
      status: 200,
      inputTokens: 21,
      estimatedOutputTokens: tokens(answer),
    });
    const texts = [answer, ...promptBlocks(parts).map(countableText)];
    for (const text of texts) expect(raw[0]).not.toContain(text.slice(0, 12));
  });

  it('counts a /v1/chat/completions request like any other, and under chatCompletionRequests everywhere; its recent entry names the route', async () => {
    const { keys, handler } = setup();
    const { job } = makeJob({ route: 'chat_completions' });
    expect((await handler.handle(job)).counted).toBe(true);
    for (const key of [
      keys.usage('key', 'key_alpha', DAY),
      keys.usage('node', 'node-a', DAY),
      keys.usage('model', 'claude-sonnet-4-6', DAY),
      keys.usage('global', 'all', DAY),
      keys.usageAllTime(),
      keys.usageMonth('key_alpha', '2026-03'),
    ]) {
      const { requests, chatCompletionRequests, inputTokens, outputTokens } = await redis.hgetall(key);
      expect({ key, requests, chatCompletionRequests, inputTokens, outputTokens }).toEqual({
        key,
        requests: '1',
        chatCompletionRequests: '1',
        inputTokens: '21',
        outputTokens: '9',
      });
    }
    expect(RecentRequestSchema.parse(JSON.parse((await redis.lindex(keys.recent(), 0)) as string))).toMatchObject({
      requestId: job.requestId,
      route: 'chat_completions',
    });
    // Handled again: the done marker stops it, the route's counter included.
    expect((await handler.handle(job)).counted).toBe(false);
    expect(await redis.hget(keys.usageAllTime(), 'chatCompletionRequests')).toBe('1');
  });

  it('counts a job from a gateway that sent no route as a /v1/messages request', async () => {
    const { keys, handler } = setup();
    const { route: _route, ...older } = makeJob().job;
    await handler.handle(older);
    await handler.handle(makeJob({ route: 'messages' }).job);
    expect(await redis.hgetall(keys.usageAllTime())).toMatchObject({ requests: '2' });
    expect(await redis.hget(keys.usageAllTime(), 'chatCompletionRequests')).toBeNull();
    const entries = (await redis.lrange(keys.recent(), 0, -1)).map((raw) => RecentRequestSchema.parse(JSON.parse(raw)));
    expect(entries.map((e) => e.route)).toEqual(['messages', 'messages']);
    expect(
      (await redis.lrange(keys.recent(), 0, -1)).every(
        (raw) => (JSON.parse(raw) as { route?: string }).route === 'messages',
      ),
    ).toBe(true);
  });

  it('rejects a payload that can never be counted without retrying it or writing anything', async () => {
    const { keys, handler } = setup();
    // What a hostile or broken producer could put in the queue, whatever the catalog's type says.
    const invalid = { ...makeJob().job, usage: { inputTokens: -1 } } as unknown as JobData<'usage'>;
    await expect(handler.handle(invalid)).rejects.toBeInstanceOf(UnrecoverableError);
    await expect(handler.handle(makeJob({ keyId: 'key with space' }).job)).rejects.toBeInstanceOf(UnrecoverableError);
    expect(await scanKeys(redis, keys.prefix)).toEqual([]);
  });

  it('counts the content of a JSON (non-streamed) answer', async () => {
    const { handler } = setup();
    const answer = unique('A yard has many tracks.');
    const toolInput = { path: `/tmp/${randomBytes(4).toString('hex')}` };
    const output: UsageJob['output'] = {
      kind: 'message',
      content: [
        { type: 'text', text: answer },
        { type: 'tool_use', id: 'toolu_1', name: 'Read', input: toolInput },
      ],
    };
    const outcome = await handler.handle(makeJob({ stream: false, output }).job);
    expect(outcome.estimatedOutputTokens).toBe(tokens(answer) + tokens(JSON.stringify(toolInput)));
  });
});

describe('block-token table', () => {
  const countOf = async (keys: Keyspace, block: ContentBlock) =>
    redis.get(keys.blockTokens(ENCODING, blockHash(block)));

  it('does not count a shipped block whose content does not match its hash', async () => {
    const { keys, handler } = setup();
    const claimed: ContentBlock = { type: 'text', text: unique('what the hash says') };
    const sent: ContentBlock = {
      type: 'text',
      text: unique('what was really shipped, and much longer than the claim'),
    };
    const honest: ContentBlock = { type: 'text', text: unique('an honest block') };
    const job = makeJob({
      prompt: {
        hashes: [blockHash(claimed), blockHash(honest)],
        blocks: [
          { hash: blockHash(claimed), block: sent },
          { hash: blockHash(honest), block: honest },
        ],
      },
    }).job;
    const outcome = await handler.handle(job);
    expect(outcome).toMatchObject({
      rejectedBlocks: 1,
      estimateMissingBlocks: 1,
      estimatedInputTokens: tokens(honest.text as string),
    });
    expect(await countOf(keys, claimed)).toBeNull();
    expect(await countOf(keys, sent)).toBeNull();
    expect(await redis.hget(keys.usageAllTime(), 'estimateMissingBlocks')).toBe('1');
  });

  it('counts a block again after Redis evicted it, when the gateway ships it again', async () => {
    const { keys, handler } = setup();
    const block: ContentBlock = { type: 'text', text: unique('a block Redis will lose') };
    const parts: PromptParts = { messages: [{ role: 'user', content: [block] }] };
    const first = await handler.handle(makeJob({ output: null }, parts).job);
    expect(first.estimatedInputTokens).toBe(tokens(block.text as string));
    await redis.del(keys.blockTokens(ENCODING, blockHash(block)));

    // Shipped again (the gateway asked, Redis said unknown): counted, and the table has it again.
    const again = await handler.handle(makeJob({ output: null }, parts).job);
    expect(again.estimatedInputTokens).toBe(tokens(block.text as string));
    expect(await countOf(keys, block)).toBe(String(tokens(block.text as string)));
    // This process remembered the count, so the tokeniser was not asked twice.
    expect(again.tokenizerCalls).toBe(0);

    // A worker that never saw it, with the block evicted and not shipped: the estimate is missing, and says so.
    await redis.del(keys.blockTokens(ENCODING, blockHash(block)));
    const fresh = createUsageHandler({
      store: createIoRedisStore(redis),
      keys,
      tokenizer,
      encoding: ENCODING,
      ttlSeconds: 3_600,
      retentionDays: 2,
      log: createNullLogger(),
    });
    const missing = await fresh.handle(makeJob({ prompt: { hashes: [blockHash(block)], blocks: [] } }).job);
    expect(missing).toMatchObject({ estimatedInputTokens: 0, estimateMissingBlocks: 1 });
  });

  it('keeps a block count alive while conversations use it: its TTL is refreshed once the refresh interval (half the TTL, at most an hour) has passed', async () => {
    let now = AT;
    const { keys, handler } = setup({ ttlSeconds: 5_000, now: () => now });
    const block: ContentBlock = { type: 'text', text: unique('history that keeps coming back') };
    const key = keys.blockTokens(ENCODING, blockHash(block));
    await handler.handle(makeJob({}, { messages: [{ role: 'user', content: [block] }] }).job);
    expect(await redis.ttl(key)).toBeGreaterThan(4_900);
    await redis.expire(key, 30);
    const nextTurn = () => handler.handle(makeJob({ prompt: { hashes: [blockHash(block)], blocks: [] } }).job);
    // Next turn, soon after: the count comes from this process's memory, and Redis is not asked or written.
    now += 60_000;
    expect((await nextTurn()).estimatedInputTokens).toBe(tokens(block.text as string));
    expect(await redis.ttl(key)).toBeLessThanOrEqual(30);
    // A turn after the refresh interval (2,500 s here) refreshes the TTL in the job's write pipeline.
    now += 2_500_000;
    expect((await nextTurn()).estimatedInputTokens).toBe(tokens(block.text as string));
    expect(await redis.ttl(key)).toBeGreaterThan(4_900);
  });
});

describe('the tokeniser budget', () => {
  // A clock that moves 1 ms each time the tokeniser reads it, so the budget runs out after a known amount of work.
  let ticks = 0;
  const clock = () => ticks++;
  const BUDGET_MS = 5;

  async function budgeted(): Promise<{ keys: Keyspace; handler: UsageHandler }> {
    const prefix = uniquePrefix('usage-budget');
    prefixes.push(prefix);
    const keys = createKeyspace(prefix);
    const slow = await createTokenizer(ENCODING, { clock });
    const handler = createUsageHandler({
      store: createIoRedisStore(redis),
      keys,
      tokenizer: slow,
      encoding: ENCODING,
      ttlSeconds: 3_600,
      retentionDays: 2,
      log: createNullLogger(),
      tokenizerBudgetMs: BUDGET_MS,
    });
    return { keys, handler };
  }

  it('estimates past the budget from length, flags the row, keeps the count of the block that took the whole budget and counts the rest exactly later', async () => {
    const { keys, handler } = await budgeted();
    const run: ContentBlock = { type: 'text', text: 'x'.repeat(200_000) };
    const small: ContentBlock = { type: 'text', text: unique('an ordinary question after a pasted log line') };
    const parts: PromptParts = { messages: [{ role: 'user', content: [run, small] }] };
    const first = await handler.handle(makeJob({ output: null, prompt: digestAll(parts) }).job);
    expect(first).toMatchObject({ approximate: true, counted: true, estimateMissingBlocks: 0 });
    // The run: what was encoded plus the rest at the encoded part's tokens per character; the small block, reached
    // with no budget left: one token per four characters.
    const runCount = Number(((await redis.get(keys.blockTokens(ENCODING, blockHash(run)))) ?? '').replace(/^~/, ''));
    expect(runCount).toBeGreaterThan(200_000 / 16);
    expect(runCount).toBeLessThan(200_000 / 2);
    expect(first.estimatedInputTokens).toBe(runCount + Math.ceil((small.text as string).length / 4));
    expect(await redis.hget(keys.usageAllTime(), 'approximateEstimates')).toBe('1');
    const recent = RecentRequestSchema.parse(JSON.parse((await redis.lindex(keys.recent(), 0)) as string));
    expect(recent.estimateApproximate).toBe(true);
    // The run used up a whole budget by itself: its count is kept, marked approximate. The small block was cut
    // short only because the run took the budget first: it is not kept.
    expect(await redis.get(keys.blockTokens(ENCODING, blockHash(run)))).toBe(`~${runCount}`);
    expect(await redis.get(keys.blockTokens(ENCODING, blockHash(small)))).toBeNull();

    // Next turn: the run is history (hash only, known); the small block is shipped again and counted exactly.
    const next = await handler.handle(
      makeJob({
        output: null,
        prompt: { hashes: [blockHash(run), blockHash(small)], blocks: [{ hash: blockHash(small), block: small }] },
      }).job,
    );
    expect(next).toMatchObject({ approximate: true, tokenizerCalls: 1, newBlocks: 1 });
    expect(next.estimatedInputTokens).toBe(runCount + tokens(small.text as string));
    expect(await redis.get(keys.blockTokens(ENCODING, blockHash(small)))).toBe(String(tokens(small.text as string)));
    expect(await redis.hget(keys.usageAllTime(), 'approximateEstimates')).toBe('2');
  });

  it('counts ordinary blocks exactly within the budget and flags nothing', async () => {
    const { keys, handler } = await budgeted();
    const outcome = await handler.handle(makeJob().job);
    expect(outcome.approximate).toBe(false);
    expect(outcome.tokenizerMs).toBeLessThanOrEqual(BUDGET_MS);
    expect(await redis.hget(keys.usageAllTime(), 'approximateEstimates')).toBeNull();
  });
});
