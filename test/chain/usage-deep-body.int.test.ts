// A body nested as deep as the gateway admits, with odd-typed but valid JSON everywhere the API's schema
// is loose, goes gateway → node → fake upstream and is served; the usage worker then counts it with the
// exact usage the upstream reported and an exact estimate. Issue 16 found such a request served but
// never counted (its job could not be built). The nesting stays below the gateway's body depth limit
// (128 levels, the body's own object level 1), so this holds with and without that limit.
import { Redis } from 'ioredis';
import { countableText, createKeyspace, nestsDeeperThan, promptBlocks, type PromptParts } from '@switchyard/shared';
import { testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';
import { createTokenizer } from '../../gateway/src/usage-worker/tokenizer.js';

jest.setTimeout(120_000);

const GATEWAY_DEPTH_LIMIT = 128;
const DEPTH = 120;

let chain: Stack;
let redis: Redis;

beforeAll(async () => {
  // A tokeniser budget no loaded machine runs out of: the test asserts exact estimates, not the budget.
  chain = await startStack({ redisUrl: testRedisUrl(), worker: { WORKER_JOB_TOKENIZER_BUDGET_MS: '60000' } });
  await chain.waitReady();
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  await chain?.stop();
  redis?.disconnect();
});

/** `levels` levels of objects ({ k: … }) around `leaf`. */
function objects(levels: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = { k: value, n: i % 3 === 0 ? null : i };
  return value;
}

/** `levels` levels of arrays around `leaf`. */
function arrays(levels: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < levels; i++) value = [value];
  return value;
}

/**
 * The body: a tool_use input and a tool_result content nested to DEPTH (body 1, messages 2, message 3,
 * content 4, block 5, then input or content from 6), lone surrogates, blocks with null and odd-typed fields,
 * tool definitions and metadata of odd shapes, top-level fields of unexpected types.
 */
function oddBody(model: string, stream: boolean): Record<string, unknown> {
  const leaf = { type: 'text', text: 'the bottom of the well' };
  return {
    model,
    max_tokens: 64,
    stream,
    metadata: { user_id: 12_345, tags: [[[]], null, { deep: objects(8, true) }] },
    temperature: 'warm',
    stop_sequences: {},
    system: [
      {
        type: 'text',
        text: 'You answer in one line. \uD800 is a lone surrogate.',
        cache_control: { type: 'ephemeral' },
      },
      { type: 'note', payload: 12, extra: [null, 'two', { three: [3] }] },
    ],
    tools: [
      { name: 'deep_tool', description: 42, input_schema: objects(60, { type: 'object' }) },
      { name: 'plain_tool', input_schema: { type: 'object', properties: {} }, cache_control: null },
    ],
    messages: [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Dig: \uDFFF\uD83D\uDE00', citations: null, extra: [1, 'two', { three: [null] }] },
        ],
      },
      {
        role: 'assistant',
        content: [{ type: 'tool_use', id: 'toolu_deep', name: 'deep_tool', input: objects(DEPTH - 5, 'leaf \uDBFF') }],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'toolu_deep', content: arrays(DEPTH - 6, leaf), is_error: 'no' },
          { type: 'text', text: 'And now?' },
        ],
      },
    ],
  };
}

interface Reported {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
}

function usageOf(u: Record<string, unknown>): Reported {
  const n = (v: unknown) => (typeof v === 'number' ? v : 0);
  return {
    inputTokens: n(u.input_tokens),
    outputTokens: n(u.output_tokens),
    cacheCreationInputTokens: n(u.cache_creation_input_tokens),
    cacheReadInputTokens: n(u.cache_read_input_tokens),
  };
}

/** The usage the client was told: the JSON message's, or message_start's with the last message_delta's output. */
function reportedUsage(raw: string, stream: boolean): Reported {
  if (!stream) return usageOf((JSON.parse(raw) as { usage: Record<string, unknown> }).usage);
  let usage: Reported | undefined;
  for (const frame of raw.split('\n\n')) {
    const data = frame.split('\n').find((l) => l.startsWith('data: '));
    if (data === undefined) continue;
    const event = JSON.parse(data.slice(6)) as {
      type: string;
      message?: { usage: Record<string, unknown> };
      usage?: Record<string, unknown>;
    };
    if (event.type === 'message_start' && event.message) usage = usageOf(event.message.usage);
    if (event.type === 'message_delta' && event.usage && usage) usage.outputTokens = usageOf(event.usage).outputTokens;
  }
  if (usage === undefined) throw new Error(`no message_start in the stream:\n${raw.slice(0, 500)}`);
  return usage;
}

async function waitForRequests(n: number): Promise<Record<string, string>> {
  const totalKey = createKeyspace(chain.prefix).usageAllTime();
  return waitFor(
    `${n} requests counted`,
    async () => {
      const totals = await redis.hgetall(totalKey);
      return Number(totals.requests ?? 0) >= n && totals;
    },
    { timeoutMs: 60_000, intervalMs: 200, detail: () => chain.worker?.output() ?? '' },
  );
}

it('serves a body nested 120 deep with odd-typed fields, streamed and not, and counts both exactly', async () => {
  const { key } = await chain.createKey();
  // One request as a client library sends it; one streamed, naming a model with a space (the fake serves any
  // claude-*; such a name cannot be part of a usage key as it is, so it used to make the job fail for good).
  const requests = [oddBody('claude-sonnet-4-6', false), oddBody('claude-sonnet-4-6 beta', true)];
  for (const body of requests) {
    expect(nestsDeeperThan(body, DEPTH - 1)).toBe(true);
    expect(nestsDeeperThan(body, GATEWAY_DEPTH_LIMIT)).toBe(false);
  }

  const dayOf = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const firstDay = dayOf(Date.now());
  const reported: Reported[] = [];
  for (const body of requests) {
    const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify(body),
    });
    const raw = await res.text();
    expect({ status: res.status, raw: res.status === 200 ? '' : raw }).toEqual({ status: 200, raw: '' });
    reported.push(reportedUsage(raw, body.stream === true));
  }

  const totals = await waitForRequests(2);
  const sum = (field: keyof Reported) => reported.reduce((s, r) => s + r[field], 0);
  expect(sum('inputTokens')).toBeGreaterThan(0);
  expect(totals).toMatchObject({
    requests: '2',
    inputTokens: String(sum('inputTokens')),
    outputTokens: String(sum('outputTokens')),
    ...(sum('cacheCreationInputTokens') > 0
      ? { cacheCreationInputTokens: String(sum('cacheCreationInputTokens')) }
      : {}),
    ...(sum('cacheReadInputTokens') > 0 ? { cacheReadInputTokens: String(sum('cacheReadInputTokens')) } : {}),
  });
  expect(totals.errors).toBeUndefined();
  // The estimate is exact: the worker's tokeniser over the text of every block, twice (each request sent the prompt).
  const tokenizer = await createTokenizer('o200k_base');
  const promptEstimate = promptBlocks(requests[0] as PromptParts).reduce(
    (s, b) => s + tokenizer.count(countableText(b)),
    0,
  );
  expect(promptEstimate).toBeGreaterThan(0);
  expect(Number(totals.estimatedInputTokens)).toBe(2 * promptEstimate);
  expect(Number(totals.estimatedOutputTokens)).toBeGreaterThan(0);
  expect(totals.approximateEstimates).toBeUndefined();
  expect(totals.estimateMissingBlocks).toBeUndefined();
  const models = new Set<string>();
  for (const day of new Set([firstDay, dayOf(Date.now())]))
    for (const m of await redis.smembers(createKeyspace(chain.prefix).usageIndex('model', day))) models.add(m);
  expect([...models].sort()).toEqual(['claude-sonnet-4-6', 'claude-sonnet-4-6_beta']);
  expect(chain.worker?.output() ?? '').not.toContain('usage job failed');
  expect(chain.gateway.output()).not.toMatch(/usage job (invalid|build failed)|usage prompt digest failed/);
});
