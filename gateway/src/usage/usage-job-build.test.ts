// A draft becomes a job whatever its request's shape: hostile prompts are digested (stand-ins for blocks
// that could not travel), and a part that fails degrades alone, never the whole job.
import {
  blockIdentity,
  isStandIn,
  promptBlocks,
  UsageJobSchema,
  type PromptParts,
  type UsageJob,
} from '@switchyard/shared';
import { createKnownHashes } from './known-hashes.js';
import { createPromptDigester, undigestedPrompt } from './prompt-digest.js';
import type { CaptureResult } from './response-capture.js';
import type { UsageDraft } from './usage-draft.js';
import { buildUsageJob } from './usage-job-build.js';
import { nestedArrays, nestedObjects, recordingLog, type LogLine } from '@switchyard/testkit';

const DEEP = 20_000;

const USAGE = {
  inputTokens: 120,
  outputTokens: 33,
  cacheCreationInputTokens: 0,
  cacheCreation5mInputTokens: 0,
  cacheCreation1hInputTokens: 0,
  cacheReadInputTokens: 7,
};
const CAPTURED: CaptureResult = {
  usage: USAGE,
  stopReason: 'end_turn',
  endedCleanly: true,
  output: { kind: 'message', content: [{ type: 'text', text: 'ok' }] },
  shortfall: 'none',
};

let seq = 0;
function draft(prompt: PromptParts | undefined, extra: Partial<UsageDraft> = {}): UsageDraft {
  return {
    requestId: `req_build_${++seq}`,
    at: Date.UTC(2026, 0, 2),
    keyId: 'key-a',
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
    ...(prompt ? { prompt } : {}),
    ...extra,
  };
}

// The digester of main.ts, with a Redis that knows no block (every block is shipped).
const digester = createPromptDigester({
  mget: (k) => Promise.resolve(k.map(() => null)),
  keys: { blockTokens: (e, h) => `blk:${e}:${h}` },
  encoding: 'o200k_base',
  known: createKnownHashes(),
});
const digest = (parts: PromptParts) => digester.digest(parts, { askRedis: true }).then((d) => d.digest);

/** What BullMQ does with a job on its way to the worker: JSON out, JSON back, then the worker's schema. */
function asTheWorkerGetsIt(job: UsageJob): UsageJob {
  return UsageJobSchema.parse(JSON.parse(JSON.stringify(job)));
}

const HOSTILE: [string, PromptParts][] = [
  ['messages nested 20,000 deep', { messages: nestedArrays(DEEP, { role: 'user', content: 'x' }) }],
  [
    'content nested 20,000 deep',
    {
      messages: [
        { role: 'user', content: nestedArrays(DEEP, 'x') },
        { role: 'user', content: [nestedArrays(DEEP, 'x')] },
      ],
    },
  ],
  [
    'a text block with a field nested 20,000 deep',
    { messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', extra: nestedObjects(DEEP, 1) }] }] },
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
    'tool results nested 20,000 deep',
    {
      messages: [
        {
          role: 'user',
          content: [
            {
              type: 'tool_result',
              tool_use_id: 't',
              content: nestedArrays(DEEP, { type: 'tool_result', content: 'in' }),
            },
          ],
        },
      ],
    },
  ],
  [
    'system nested 20,000 deep',
    { system: [{ type: 'text', text: 'sys', citations: nestedArrays(DEEP, {}) }, nestedObjects(DEEP, 's')] },
  ],
  ['messages that are a string, a number, an object', { messages: 'hello', system: 42, tools: { name: 'x' } }],
  [
    'null, number and array blocks',
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
  ['a system array of non-objects', { system: [1, null, 'str', [2], false] }],
  [
    '100,000-element arrays',
    {
      messages: Array.from({ length: 100_000 }, (_, i) => (i % 2 ? null : { role: 'user', content: 'same' })),
      tools: [{ name: 'T', input_schema: Array.from({ length: 100_000 }, (_, i) => i) }],
    },
  ],
];

describe.each(HOSTILE)('a prompt with %s', (_label, parts) => {
  it('makes a job that travels and lists every block, stand-ins for those that could not travel', async () => {
    const lines: LogLine[] = [];
    const log = recordingLog(lines);
    const job = await buildUsageJob(draft(parts), { digest, log });
    expect(job).toBeDefined();
    const received = asTheWorkerGetsIt(job!);
    expect(received.usage).toEqual(USAGE);
    expect(received.prompt?.hashes).toEqual(promptBlocks(parts).map((b) => blockIdentity(b).hash));
    for (const { block } of received.prompt?.blocks ?? []) expect(JSON.stringify(block).length).toBeGreaterThan(0);
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});

it('ships a tool input 20,000 deep as its stand-in: its text, and a hash that says which', async () => {
  const parts = HOSTILE[3]![1];
  const job = asTheWorkerGetsIt((await buildUsageJob(draft(parts), { digest, log: recordingLog([]) }))!);
  expect(job.prompt?.blocks).toHaveLength(1);
  expect(isStandIn(job.prompt!.blocks[0]!.block)).toBe(true);
});

it('carries a JSON answer whose content is nested 20,000 deep with that block as a stand-in', async () => {
  const deepAnswer: CaptureResult = {
    ...CAPTURED,
    output: { kind: 'message', content: [{ type: 'tool_use', id: 't', name: 'X', input: nestedArrays(DEEP, 1) }] },
  };
  const job = await buildUsageJob(draft({ messages: [] }, { capture: { result: () => deepAnswer } }), {
    digest,
    log: recordingLog([]),
  });
  const received = asTheWorkerGetsIt(job!);
  expect(received.usage).toEqual(USAGE);
  expect(received.output).toEqual({
    kind: 'message',
    content: [{ type: 'switchyard_stand_in', text: '['.repeat(DEEP) + '1' + ']'.repeat(DEEP) }],
  });
});

it('counts a model that cannot be a key part under a name that can', async () => {
  const job = await buildUsageJob(draft(undefined, { model: 'claude opus\n' }), { digest, log: recordingLog([]) });
  expect(job?.model).toBe('claude_opus_');
});

it('still makes the job when digesting throws: the undigested prompt (estimate approximate), one line without text', async () => {
  const lines: LogLine[] = [];
  const log = recordingLog(lines);
  const failing = () =>
    Promise.reject(new RangeError('Maximum call stack size exceeded while reading "secret prompt text"'));
  const job = await buildUsageJob(draft({ messages: [{ role: 'user', content: 'secret prompt text' }] }), {
    digest: failing,
    log,
  });
  expect(job?.usage).toEqual(USAGE);
  expect(job?.prompt).toEqual(undigestedPrompt());
  expect(isStandIn(job!.prompt!.blocks[0]!.block)).toBe(true);
  expect(lines).toEqual([
    { level: 'error', message: 'usage prompt digest failed', meta: { requestId: job?.requestId, error: 'RangeError' } },
  ]);
  expect(JSON.stringify(lines)).not.toContain('secret');
});

it('still makes the job when reading the capture throws: no exact usage is known, the rest is', async () => {
  const lines: LogLine[] = [];
  const log = recordingLog(lines);
  const job = await buildUsageJob(
    draft(
      { messages: [{ role: 'user', content: 'hi' }] },
      {
        capture: {
          result: () => {
            throw new TypeError('bad');
          },
        },
      },
    ),
    { digest, log },
  );
  expect(job).toMatchObject({ usage: null, output: null, status: 200, keyId: 'key-a' });
  expect(job?.prompt?.hashes).toHaveLength(1);
  expect(lines.map((l) => l.message)).toEqual(['usage capture failed']);
});

it('drops the parts that make a job invalid and keeps what is certain', async () => {
  const lines: LogLine[] = [];
  const log = recordingLog(lines);
  // An invalid digest (a hash that is no hash) stands for any part that fails the job's schema.
  const bad = () => Promise.resolve({ hashes: ['not a hash'], blocks: [] });
  const job = await buildUsageJob(draft({ messages: [] }), { digest: bad, log });
  expect(job?.usage).toEqual(USAGE);
  expect(job?.output).toBeNull();
  expect(job?.prompt).toEqual(undigestedPrompt());
  expect(lines.map((l) => [l.message, l.meta.issues])).toEqual([
    ['usage job invalid', [{ path: 'prompt.hashes.0', code: 'invalid_format' }]],
  ]);
});
