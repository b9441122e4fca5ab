// Must show (issue 5): a 100-turn conversation tokenises each content block once. Every turn is built the
// way Claude Code sends it (system blocks, tools, the whole growing history, the cache breakpoint on the
// last block), digested the way the gateway does it (hashes, shipping only blocks Redis does not know),
// and handled by the worker's handler. The tokeniser is wrapped to count its calls per text.
import { Redis } from 'ioredis';
import { getEncoding } from 'js-tiktoken';
import {
  blockHash,
  canonicalJson,
  countableText,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  promptBlocks,
  type ContentBlock,
  type PromptParts,
  type UsageJob,
} from '@switchyard/shared';
import { deleteKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createKnownHashes } from '../usage/known-hashes.js';
import { createPromptDigester } from '../usage/prompt-digest.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';
import { createUsageHandler, type UsageOutcome } from './usage-handler.js';

jest.setTimeout(120_000);

const ENCODING = 'o200k_base';
const TURNS = 100;
const prefix = uniquePrefix('conversation');
const keys = createKeyspace(prefix);
let redis: Redis;

beforeAll(() => {
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  await deleteKeys(redis, prefix);
  await redis.quit();
});

// An independent count: the full js-tiktoken build (not the worker's lite encoder), no block table.
const enc = getEncoding(ENCODING);
const independentCounts = new Map<string, number>();
function independentTokens(block: ContentBlock): number {
  const text = countableText(block);
  if (text === '') return 0;
  let n = independentCounts.get(text);
  if (n === undefined) {
    n = enc.encode(text).length;
    independentCounts.set(text, n);
  }
  return n;
}

/** Deterministic filler words, so every turn's texts differ and reruns see the same conversation. */
function createWords(seed: number): (n: number) => string {
  const vocabulary = [
    'yard',
    'switch',
    'track',
    'signal',
    'freight',
    'const',
    'return',
    'await',
    'function',
    'node',
    'redis',
    'token',
    'é',
    '日本',
    '{',
    '}',
    '=>',
    '42',
    'x_1',
    'TODO',
  ];
  let state = seed;
  return (n) => {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
      out.push(vocabulary[state % vocabulary.length] as string);
    }
    return out.join(' ');
  };
}
const words = createWords(7);

type Message = { role: 'user' | 'assistant'; content: unknown[] };

const tools = ['Bash', 'Read', 'Edit', 'Grep'].map((name, i) => ({
  name,
  description: `${name}: ${words(60 + i * 10)}`,
  input_schema: { type: 'object', properties: { arg: { type: 'string', description: words(8) } }, required: ['arg'] },
  ...(i === 3 ? { cache_control: { type: 'ephemeral' } } : {}),
}));
const system = [
  { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=cli' },
  { type: 'text', text: `You are Claude Code. ${words(400)}`, cache_control: { type: 'ephemeral', ttl: '1h' } },
];

/** The assistant's answer in turn `t`: thinking sometimes, text always, a tool call every other turn. */
function answerBlocks(t: number): ContentBlock[] {
  const blocks: ContentBlock[] = [];
  if (t % 3 === 0)
    blocks.push({
      type: 'thinking',
      thinking: `Turn ${t}, thinking: ${words(40 + (t % 7) * 20)}`,
      signature: `sig${t}`,
    });
  blocks.push({ type: 'text', text: `Turn ${t}, answer: ${words(20 + (t % 5) * 30)}` });
  if (t % 2 === 0)
    blocks.push({ type: 'tool_use', id: `toolu_${t}`, name: 'Read', input: { arg: `/src/file-${t}.ts`, lines: t } });
  return blocks;
}

/** The answer as the node streamed it: the raw content_block frames the gateway captures. */
function asSse(blocks: ContentBlock[]): NonNullable<UsageJob['output']> {
  const events: { event: string; data: string }[] = [];
  const push = (event: string, body: Record<string, unknown>) =>
    events.push({ event, data: JSON.stringify({ type: event, ...body }) });
  blocks.forEach((block, index) => {
    if (block.type === 'thinking') {
      push('content_block_start', { index, content_block: { type: 'thinking', thinking: '', signature: '' } });
      const text = block.thinking as string;
      for (let i = 0; i < text.length; i += 50)
        push('content_block_delta', { index, delta: { type: 'thinking_delta', thinking: text.slice(i, i + 50) } });
      push('content_block_delta', { index, delta: { type: 'signature_delta', signature: block.signature } });
    } else if (block.type === 'text') {
      push('content_block_start', { index, content_block: { type: 'text', text: '' } });
      const text = block.text as string;
      for (let i = 0; i < text.length; i += 50)
        push('content_block_delta', { index, delta: { type: 'text_delta', text: text.slice(i, i + 50) } });
    } else {
      push('content_block_start', {
        index,
        content_block: { type: 'tool_use', id: block.id, name: block.name, input: {} },
      });
      const json = JSON.stringify(block.input);
      for (let i = 0; i < json.length; i += 10)
        push('content_block_delta', {
          index,
          delta: { type: 'input_json_delta', partial_json: json.slice(i, i + 10) },
        });
    }
    push('content_block_stop', { index });
  });
  return { kind: 'sse', events };
}

/** What the user sends in turn `t`, answering the previous turn's answer. */
function userMessage(t: number, previous: ContentBlock[]): Message {
  const call = previous.find((b) => b.type === 'tool_use');
  if (call)
    return {
      role: 'user',
      content: [
        {
          type: 'tool_result',
          tool_use_id: call.id,
          content: [{ type: 'text', text: `file ${t}:\n${words(150 + (t % 9) * 40)}` }],
        },
      ],
    };
  if (t === 10) {
    return {
      role: 'user',
      content: [
        {
          type: 'image',
          source: {
            type: 'base64',
            media_type: 'image/png',
            data: 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGBgAAAABQABpfZFQAAAAABJRU5ErkJggg==',
          },
        },
        { type: 'text', text: `Turn ${t}: what does this screenshot show?` },
      ],
    };
  }
  // Claude Code users say the same short things again and again: the same block, counted once.
  if (t % 4 === 1 && t > 1) return { role: 'user', content: [{ type: 'text', text: 'continue' }] };
  return { role: 'user', content: [{ type: 'text', text: `Turn ${t}, question: ${words(10 + (t % 6) * 15)}` }] };
}

/** The request body's prompt parts, with the cache breakpoint on the last block as Claude Code moves it. */
function requestParts(history: Message[]): PromptParts {
  const messages = history.map((m, i) => {
    if (i !== history.length - 1) return m;
    const content = m.content.map((b, j) =>
      j === m.content.length - 1 ? { ...(b as object), cache_control: { type: 'ephemeral' } } : b,
    );
    return { ...m, content };
  });
  return { tools, system, messages };
}

function job(t: number, prompt: UsageJob['prompt'], output: UsageJob['output']): UsageJob {
  return {
    requestId: `req_conv_${t}`,
    at: Date.now(),
    keyId: 'key_conv',
    nodeId: 'node-a',
    model: 'claude-sonnet-4-6',
    stream: true,
    status: 200,
    durationMs: 1_000,
    ttfbMs: 100,
    aborted: false,
    brokeMidStream: false,
    accountKind: null,
    sticky: 'none',
    route: 'messages',
    usage: null,
    stopReason: 'end_turn',
    endedCleanly: true,
    prompt,
    output,
  };
}

it('tokenises each distinct content block of a 100-turn conversation exactly once', async () => {
  const inner = await createTokenizer(ENCODING);
  const perText = new Map<string, number>();
  const seenText = (text: string) => text !== '' && perText.set(text, (perText.get(text) ?? 0) + 1);
  const counting: Tokenizer = {
    encoding: inner.encoding,
    count(text) {
      seenText(text);
      return inner.count(text);
    },
    measure(text, budget) {
      seenText(text);
      return inner.measure(text, budget);
    },
    get calls() {
      return inner.calls;
    },
  };
  // No in-process memo: the block table in Redis alone must keep history from being tokenised again.
  const handler = createUsageHandler({
    store: createIoRedisStore(redis),
    keys,
    tokenizer: counting,
    encoding: ENCODING,
    ttlSeconds: 3_600,
    retentionDays: 2,
    log: createNullLogger(),
    memoSize: 0,
  });
  // The gateway's side, as a separate process would have it: its own memory of known hashes.
  const digester = createPromptDigester({
    mget: (k) => redis.mget(...k),
    keys,
    encoding: ENCODING,
    known: createKnownHashes(),
  });

  const history: Message[] = [];
  let previous: ContentBlock[] = [];
  const seen = new Set<string>();
  const distinctNonEmpty = new Set<string>();
  const note = (block: ContentBlock) => {
    if (countableText(block) !== '') distinctNonEmpty.add(canonicalJson(block));
  };
  const outcomes: UsageOutcome[] = [];
  let blocksSent = 0;
  let blocksShipped = 0;

  for (let t = 1; t <= TURNS; t++) {
    history.push(userMessage(t, previous));
    const parts = requestParts(history);
    const sent = promptBlocks(parts);
    const newThisTurn = new Set(sent.map(blockHash).filter((h) => !seen.has(h)));
    sent.forEach(note);

    const { digest } = await digester.digest(parts, { askRedis: true });
    const answer = answerBlocks(t);
    const outcome = await handler.handle(job(t, digest, asSse(answer)));
    outcomes.push(outcome);

    // The gateway shipped exactly the blocks the worker had never seen; the rest went as hashes.
    expect({ t, shipped: digest.blocks.map((b) => b.hash).sort() }).toEqual({ t, shipped: [...newThisTurn].sort() });
    expect({ t, counted: outcome.counted, missing: outcome.estimateMissingBlocks }).toEqual({
      t,
      counted: true,
      missing: 0,
    });
    // Each turn's estimate equals a fresh count of everything that turn sent and received.
    const expectedInput = sent.reduce((sum, b) => sum + independentTokens(b), 0);
    const expectedOutput = answer.reduce((sum, b) => sum + independentTokens(b), 0);
    expect({ t, input: outcome.estimatedInputTokens, output: outcome.estimatedOutputTokens }).toEqual({
      t,
      input: expectedInput,
      output: expectedOutput,
    });

    for (const h of sent.map(blockHash)) seen.add(h);
    for (const b of answer) {
      seen.add(blockHash(b));
      note(b);
    }
    blocksSent += sent.length;
    blocksShipped += digest.blocks.length;
    history.push({ role: 'assistant', content: answer });
    previous = answer;
  }

  const calls = outcomes.reduce((sum, o) => sum + o.tokenizerCalls, 0);
  expect(calls).toBe(distinctNonEmpty.size);
  expect(inner.calls).toBe(distinctNonEmpty.size);
  // Never the same text twice (every distinct block here has its own text).
  expect([...perText].filter(([, n]) => n > 1)).toEqual([]);
  expect(perText.size).toBe(distinctNonEmpty.size);
  // The history dwarfs what was new: re-tokenising it every turn would have cost far more calls.
  expect(blocksSent).toBeGreaterThan(10 * calls);
  const totals = await redis.hgetall(keys.usageAllTime());
  expect(Number(totals.estimatedInputTokens)).toBe(outcomes.reduce((sum, o) => sum + o.estimatedInputTokens, 0));
  console.info(
    `${TURNS} turns: ${calls} tokeniser calls for ${distinctNonEmpty.size} distinct non-empty blocks; ` +
      `${blocksSent} prompt blocks sent, ${blocksShipped} shipped with their content; ` +
      `${totals.estimatedInputTokens} input and ${totals.estimatedOutputTokens} output tokens estimated`,
  );
});
