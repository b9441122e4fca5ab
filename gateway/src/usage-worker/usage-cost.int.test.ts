// The cost of a counted request, through the usage handler against a real Redis: every hash, the key's month and
// the day's price versions get it once; an aborted or broken response is charged at least its estimate; a model
// with no price is flagged, counted at zero cost and logged once. Expected figures come from the price book,
// whose own figures are checked against genai-prices (shared/src/pricing/load-price-book.test.ts) and end to end
// (test/chain/usage-cost.int.test.ts).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  blockHash,
  createIoRedisStore,
  createKeyspace,
  loadPriceBook,
  promptBlocks,
  RecentRequestSchema,
  utcDay,
  utcMonth,
  type Keyspace,
  type PromptParts,
  type UsageJob,
} from '@switchyard/shared';
import { deleteKeys, recordingLog, spawnService, testRedisUrl, uniquePrefix, type LogLine } from '@switchyard/testkit';
import { createTokenizer, type Tokenizer } from './tokenizer.js';
import { createUsageHandler, type UsageHandler } from './usage-handler.js';

const AT = Date.UTC(2026, 10, 14, 9, 30);
const DAY = utcDay(AT);
const MONTH = utcMonth(AT);
const MODEL = 'claude-sonnet-4-5';
const UNKNOWN = 'claude-unreleased-x9';
const NO_PRICE = 'usage model has no price: counted at zero cost';
const book = loadPriceBook();

let redis: Redis;
let tokenizer: Tokenizer;
const prefixes: string[] = [];

beforeAll(async () => {
  redis = new Redis(testRedisUrl());
  tokenizer = await createTokenizer('o200k_base');
});
afterAll(async () => {
  for (const prefix of prefixes) await deleteKeys(redis, prefix);
  await redis.quit();
});

function setup(): { keys: Keyspace; handler: UsageHandler; lines: LogLine[] } {
  const prefix = uniquePrefix('usage-cost');
  prefixes.push(prefix);
  const keys = createKeyspace(prefix);
  const lines: LogLine[] = [];
  const log = recordingLog(lines);
  // A budget no test comes near: the estimates must not depend on this machine's speed.
  const handler = createUsageHandler({
    store: createIoRedisStore(redis),
    keys,
    tokenizer,
    encoding: 'o200k_base',
    ttlSeconds: 3_600,
    retentionDays: 2,
    log,
    priceBook: book,
    tokenizerBudgetMs: 600_000,
  });
  return { keys, handler, lines };
}

const words = (n: number) => Array.from({ length: n }, (_, i) => `word${i}`).join(' ');

function job(overrides: Partial<UsageJob> = {}): UsageJob {
  const parts: PromptParts = {
    messages: [{ role: 'user', content: `${randomBytes(6).toString('hex')} ${words(400)}` }],
  };
  const blocks = promptBlocks(parts);
  return {
    requestId: `req_${randomBytes(8).toString('hex')}`,
    at: AT,
    keyId: 'key_alpha',
    nodeId: 'node-a',
    model: MODEL,
    stream: true,
    status: 200,
    durationMs: 100,
    ttfbMs: 10,
    aborted: false,
    brokeMidStream: false,
    accountKind: 'api_key',
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
    prompt: { hashes: blocks.map(blockHash), blocks: blocks.map((block) => ({ hash: blockHash(block), block })) },
    output: { kind: 'message', content: [{ type: 'text', text: words(300) }] },
    ...overrides,
  };
}

async function hash(key: string): Promise<Record<string, number>> {
  return Object.fromEntries(Object.entries(await redis.hgetall(key)).map(([k, v]) => [k, Number(v)]));
}

async function latestRecent(keys: Keyspace) {
  return RecentRequestSchema.parse(JSON.parse((await redis.lindex(keys.recent(), 0)) as string));
}

describe('a priced request', () => {
  it("adds its cost to the key, node, model, global and all-time hashes and the key's month, and records the price version, once", async () => {
    const { keys, handler } = setup();
    const j = job({ accountKind: 'oauth' });
    const expected = book.cost(MODEL, j.usage!, AT);
    expect(expected.costMicros).toBeGreaterThan(0);
    expect(expected.cacheSavingsMicros).toBeGreaterThan(0);

    expect((await handler.handle(j)).counted).toBe(true);
    // The same job again (a retry, a replayed spool line) adds nothing anywhere.
    expect((await handler.handle(j)).counted).toBe(false);
    const month = keys.usageMonth('key_alpha', MONTH);
    for (const key of [
      keys.usage('key', 'key_alpha', DAY),
      keys.usage('node', 'node-a', DAY),
      keys.usage('model', MODEL, DAY),
      keys.usage('global', 'all', DAY),
      keys.usageAllTime(),
      month,
    ]) {
      const h = await hash(key);
      expect({
        key,
        costMicros: h.costMicros,
        apiEquivalentMicros: h.apiEquivalentMicros,
        cacheSavingsMicros: h.cacheSavingsMicros,
        unpriced: h.unpricedRequests,
        requests: h.requests,
        inputTokens: h.inputTokens,
      }).toEqual({
        key,
        costMicros: expected.costMicros,
        // An OAuth (subscription) account: what it served is worth its API price.
        apiEquivalentMicros: expected.costMicros,
        cacheSavingsMicros: expected.cacheSavingsMicros,
        unpriced: undefined,
        requests: 1,
        inputTokens: 21,
      });
    }
    expect(await redis.ttl(month)).toBeGreaterThan(86_400);
    expect(await redis.smembers(keys.usagePriceVersions(DAY))).toEqual([book.version]);
    expect(await redis.ttl(keys.usagePriceVersions(DAY))).toBeGreaterThan(86_400);
    expect(await latestRecent(keys)).toMatchObject({
      costMicros: expected.costMicros,
      priced: true,
      cacheSavingsMicros: expected.cacheSavingsMicros,
    });
  });

  it('has no API-equivalent value when an API-key account answered it', async () => {
    const { keys, handler } = setup();
    const j = job({ accountKind: 'api_key' });
    await handler.handle(j);
    const h = await hash(keys.usage('key', 'key_alpha', DAY));
    expect(h.costMicros).toBe(book.cost(MODEL, j.usage!, AT).costMicros);
    expect(h.apiEquivalentMicros).toBeUndefined();
  });
});

describe('an aborted or broken response', () => {
  it.each([
    ['the client hung up', { aborted: true }],
    ["the node's stream broke off", { brokeMidStream: true }],
  ])(
    'is charged at least the estimate of what was relayed when %s (the token counters stay exact)',
    async (_name, flags) => {
      const { keys, handler } = setup();
      // message_start said 5 input tokens and 1 output token; the prompt and the text relayed are far longer.
      const j = job({
        ...flags,
        usage: {
          inputTokens: 5,
          outputTokens: 1,
          cacheCreationInputTokens: 0,
          cacheCreation5mInputTokens: 0,
          cacheCreation1hInputTokens: 0,
          cacheReadInputTokens: 0,
        },
      });
      const outcome = await handler.handle(j);
      expect(outcome.estimatedInputTokens).toBeGreaterThan(5);
      expect(outcome.estimatedOutputTokens).toBeGreaterThan(1);
      const h = await hash(keys.usage('key', 'key_alpha', DAY));
      const charged = book.cost(
        MODEL,
        {
          inputTokens: outcome.estimatedInputTokens,
          outputTokens: outcome.estimatedOutputTokens,
          cacheCreationInputTokens: 0,
          cacheCreation5mInputTokens: 0,
          cacheCreation1hInputTokens: 0,
          cacheReadInputTokens: 0,
        },
        AT,
      );
      expect(h.costMicros).toBe(charged.costMicros);
      expect(h.costMicros).toBeGreaterThan(book.cost(MODEL, j.usage!, AT).costMicros);
      expect({ inputTokens: h.inputTokens, outputTokens: h.outputTokens }).toEqual({ inputTokens: 5, outputTokens: 1 });
    },
  );

  it('is charged its exact usage where that is more than the estimate (cache reads count as input)', async () => {
    const { keys, handler } = setup();
    const j = job({ aborted: true, output: { kind: 'message', content: [] } });
    const outcome = await handler.handle(j);
    expect(outcome.estimatedInputTokens).toBeLessThan(21 + 300 + 4_000);
    expect(outcome.estimatedOutputTokens).toBe(0);
    expect((await hash(keys.usage('key', 'key_alpha', DAY))).costMicros).toBe(
      book.cost(MODEL, j.usage!, AT).costMicros,
    );
  });

  it('with no exact usage at all (aborted before message_start) is charged its estimate', async () => {
    const { keys, handler } = setup();
    const j = job({ aborted: true, usage: null, output: null, stopReason: null, endedCleanly: false });
    const outcome = await handler.handle(j);
    const h = await hash(keys.usage('key', 'key_alpha', DAY));
    expect(h.costMicros).toBe(
      book.cost(
        MODEL,
        {
          inputTokens: outcome.estimatedInputTokens,
          outputTokens: 0,
          cacheCreationInputTokens: 0,
          cacheCreation5mInputTokens: 0,
          cacheCreation1hInputTokens: 0,
          cacheReadInputTokens: 0,
        },
        AT,
      ).costMicros,
    );
    expect(h.costMicros).toBeGreaterThan(0);
  });
});

describe('a model with no price', () => {
  it('is counted at zero cost, flagged in the rows and the recent list, and logged once per model', async () => {
    const { keys, handler, lines } = setup();
    await handler.handle(job({ model: UNKNOWN }));
    await handler.handle(job({ model: UNKNOWN }));
    await handler.handle(job({ model: `${UNKNOWN}-b` }));
    // A refusal that used no tokens is not an unpriced request.
    await handler.handle(
      job({ model: UNKNOWN, status: 429, usage: null, prompt: null, output: null, stopReason: null }),
    );
    const h = await hash(keys.usage('model', UNKNOWN, DAY));
    expect({
      requests: h.requests,
      unpricedRequests: h.unpricedRequests,
      costMicros: h.costMicros,
      cacheSavingsMicros: h.cacheSavingsMicros,
    }).toEqual({ requests: 3, unpricedRequests: 2, costMicros: undefined, cacheSavingsMicros: undefined });
    expect((await hash(keys.usage('key', 'key_alpha', DAY))).unpricedRequests).toBe(3);
    const recent = (await redis.lrange(keys.recent(), 0, -1)).map((raw) => RecentRequestSchema.parse(JSON.parse(raw)));
    expect(recent.map((r) => [r.model, r.priced, r.costMicros])).toEqual([
      [UNKNOWN, true, 0],
      [`${UNKNOWN}-b`, false, 0],
      [UNKNOWN, false, 0],
      [UNKNOWN, false, 0],
    ]);
    const warned = lines.filter((l) => l.message === NO_PRICE);
    expect(warned.map((l) => [l.level, l.meta.model])).toEqual([
      ['warn', UNKNOWN],
      ['warn', `${UNKNOWN}-b`],
    ]);
  });
});

describe('the worker process', () => {
  it('refuses to start with a PRICES_FILE it cannot use, naming the file and the JSON path', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sy-prices-bad-'));
    try {
      const file = join(dir, 'prices.json');
      writeFileSync(
        file,
        JSON.stringify({
          models: [{ id: 'claude-acme-1', match: { equals: 'claude-acme-1' }, prices: { output_mtok: 3 } }],
        }),
      );
      const svc = spawnService('gateway/src/usage-worker/main.ts', {
        REDIS_URL: testRedisUrl(),
        REDIS_PREFIX: uniquePrefix('usage-cost-bad'),
        METRICS_PORT: '0',
        PRICES_FILE: file,
      });
      const { code } = await svc.exited();
      expect(code).not.toBe(0);
      expect(svc.output()).toContain(`PRICES_FILE ${file}: $.models[0].prices.input_mtok`);
      expect(svc.output()).not.toContain('worker ready');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
