// The capture fed the fake upstream's real bytes, split every way the network might split them.
import type { IncomingHttpHeaders } from 'node:http';
import { request } from 'node:http';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import type { Usage } from '@switchyard/shared';
import {
  createFakeAnthropic,
  fakeMessagesBody,
  fakeOAuthHeaders,
  parseSseFrames,
  seededRandom,
  type FakeAnthropic,
} from '@switchyard/testkit';
import { createResponseCapture, type CaptureLimits, type CaptureResult } from './response-capture.js';

interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  bytes: Buffer;
}

let fake: FakeAnthropic;
let token: string;

beforeAll(async () => {
  fake = createFakeAnthropic({ timing: { textDeltas: 6 } });
  await fake.start();
  token = fake.issueAccessToken('acct-1');
});
afterAll(() => fake.stop());
afterEach(() => fake.clearFaults());

/** POSTs to the fake and keeps the body as the bytes it sent. */
function post(body: unknown): Promise<RawResponse> {
  const url = new URL('/v1/messages?beta=true', fake.url);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', headers: fakeOAuthHeaders(token) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

// A prompt whose first block the cache already holds (1h), then a 5m and a 1h breakpoint it writes:
// the answer carries cache reads and both kinds of cache writes.
const systemA = { type: 'text', text: 'A'.repeat(400), cache_control: { type: 'ephemeral', ttl: '1h' } };
const systemB = { type: 'text', text: 'B'.repeat(200), cache_control: { type: 'ephemeral' } };
const systemC = { type: 'text', text: 'C'.repeat(120), cache_control: { type: 'ephemeral', ttl: '1h' } };

const tools = [{ name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }];

/** A fresh cache state for each call: the primed prefix A only, so every answer reads A and writes B and C. */
async function answerWithCache(extra: Record<string, unknown>): Promise<RawResponse> {
  const salt = Math.random().toString(36).slice(2);
  const prime = { ...systemA, text: `${salt}${systemA.text}` };
  // Tools come before the system prompt: the primed prefix must carry the same ones.
  await post(fakeMessagesBody({ tools, system: [prime] }));
  fake.reset();
  return post(
    fakeMessagesBody({
      tools,
      tool_choice: { type: 'any' },
      thinking: { type: 'adaptive' },
      system: [prime, systemB, systemC],
      ...extra,
    }),
  );
}

/** The usage an independent reading of the frames gives: message_start's, overwritten by the last message_delta's. */
function usageFromFrames(text: string): Usage {
  const frames = parseSseFrames(text);
  type RawUsage = Record<string, number | undefined> & { cache_creation?: Record<string, number> };
  const start = (JSON.parse(frames.find((f) => f.event === 'message_start')!.data) as { message: { usage: RawUsage } })
    .message.usage;
  const deltas = frames
    .filter((f) => f.event === 'message_delta')
    .map((f) => (JSON.parse(f.data) as { usage: RawUsage }).usage);
  const last = deltas.at(-1) ?? {};
  const pick = (field: string) => last[field] ?? start[field] ?? 0;
  return {
    inputTokens: pick('input_tokens'),
    outputTokens: pick('output_tokens'),
    cacheCreationInputTokens: pick('cache_creation_input_tokens'),
    cacheCreation5mInputTokens: start.cache_creation?.ephemeral_5m_input_tokens ?? 0,
    cacheCreation1hInputTokens: start.cache_creation?.ephemeral_1h_input_tokens ?? 0,
    cacheReadInputTokens: pick('cache_read_input_tokens'),
  };
}

type Split = { name: string; sizes: (total: number) => number[] };

const SPLITS: Split[] = [
  { name: 'one piece', sizes: (n) => [n] },
  { name: '1-byte chunks', sizes: (n) => Array<number>(n).fill(1) },
  ...[7, 1234, 99991].map((seed) => ({
    name: `random chunks (seed ${seed})`,
    sizes: (n: number) => {
      const random = seededRandom(seed);
      const out: number[] = [];
      for (let left = n; left > 0;) {
        const size = Math.min(left, 1 + Math.floor(random() * 97));
        out.push(size);
        left -= size;
      }
      return out;
    },
  })),
];

function capture(raw: RawResponse, bytes: Buffer, split: Split, limits?: CaptureLimits): CaptureResult {
  const c = createResponseCapture(limits);
  c.onHead(raw.status, raw.headers);
  let at = 0;
  for (const size of split.sizes(bytes.length)) {
    c.onChunk(bytes.subarray(at, at + size));
    at += size;
  }
  return c.result();
}

function withEncoding(raw: RawResponse, encoding: string): RawResponse {
  return { ...raw, headers: { ...raw.headers, 'content-encoding': encoding } };
}

describe('a streamed answer', () => {
  let raw: RawResponse;
  let text: string;
  let expected: Usage;

  beforeAll(async () => {
    raw = await answerWithCache({ stream: true });
    text = raw.bytes.toString('utf8');
    expected = usageFromFrames(text);
  });

  test('the fake really sent cache reads and both kinds of cache writes (else the tests below prove less)', () => {
    expect(raw.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(expected.cacheReadInputTokens).toBeGreaterThan(0);
    expect(expected.cacheCreation5mInputTokens).toBeGreaterThan(0);
    expect(expected.cacheCreation1hInputTokens).toBeGreaterThan(0);
    expect(expected.outputTokens).toBeGreaterThan(1);
  });

  test.each(SPLITS)('$name: message_start usage with the last message_delta usage, stop reason, clean end', (split) => {
    const result = capture(raw, raw.bytes, split);
    expect(result.usage).toEqual(expected);
    expect(result.stopReason).toBe('tool_use');
    expect(result.endedCleanly).toBe(true);
    expect(result.shortfall).toBe('none');
  });

  test('the usage equals what the fake itself counted for that answer', () => {
    const result = capture(raw, raw.bytes, SPLITS[0]!);
    const totals = fake.usageTotals();
    expect(totals.requests).toBe(1);
    expect({
      input: result.usage?.inputTokens,
      output: result.usage?.outputTokens,
      cacheCreation: result.usage?.cacheCreationInputTokens,
      cacheRead: result.usage?.cacheReadInputTokens,
    }).toEqual({
      input: totals.input,
      output: totals.output,
      cacheCreation: totals.cacheCreation,
      cacheRead: totals.cacheRead,
    });
    expect(result.usage!.cacheCreation5mInputTokens + result.usage!.cacheCreation1hInputTokens).toBe(
      totals.cacheCreation,
    );
  });

  test('several message_delta frames: the last one counts, they are never added up', () => {
    // The live API may send more than one; each carries the running total.
    const frames = text.split('\n\n');
    const at = frames.findIndex((f) => f.startsWith('event: message_delta'));
    const final = frames[at]!;
    const early = final.replace(/"output_tokens":\d+/, '"output_tokens":3');
    const twice = [...frames.slice(0, at), early, early, final, ...frames.slice(at + 1)].join('\n\n');
    for (const split of SPLITS.slice(0, 3)) {
      expect(capture(raw, Buffer.from(twice), split).usage).toEqual(expected);
    }
  });

  test('the content_block frames are kept for the worker, in order, and nothing else', () => {
    const result = capture(raw, raw.bytes, SPLITS[1]!);
    const contentFrames = parseSseFrames(text).filter(
      (f) => f.event === 'content_block_start' || f.event === 'content_block_delta',
    );
    expect(result.output).toEqual({
      kind: 'sse',
      events: contentFrames.map((f) => ({ event: f.event, data: f.data })),
    });
  });

  test('cut before message_stop: not clean, usage from what arrived', () => {
    const stop = text.indexOf('event: message_stop');
    const delta = text.indexOf('event: message_delta');
    // After message_delta: its cumulative usage arrived, the ending did not.
    const afterDelta = capture(raw, raw.bytes.subarray(0, Buffer.byteLength(text.slice(0, stop))), SPLITS[2]!);
    expect(afterDelta).toMatchObject({ usage: expected, endedCleanly: false, stopReason: 'tool_use' });
    // Halfway through the message_delta frame: only message_start's usage (1 output token so far).
    const midDelta = capture(raw, raw.bytes.subarray(0, Buffer.byteLength(text.slice(0, delta + 40))), SPLITS[1]!);
    expect(midDelta.endedCleanly).toBe(false);
    expect(midDelta.stopReason).toBeNull();
    expect(midDelta.usage).toEqual({ ...expected, outputTokens: 1 });
    // Before message_start ended: nothing to count, and no crash.
    const early = capture(raw, raw.bytes.subarray(0, 30), SPLITS[0]!);
    expect(early).toMatchObject({ usage: null, endedCleanly: false, output: null });
  });

  test.each(['gzip', 'deflate', 'br'])('%s-encoded: decoded after the end, same result', (encoding) => {
    const packed =
      encoding === 'gzip'
        ? gzipSync(raw.bytes)
        : encoding === 'deflate'
          ? deflateSync(raw.bytes)
          : brotliCompressSync(raw.bytes);
    for (const split of SPLITS) {
      const result = capture(withEncoding(raw, encoding), packed, split);
      expect(result).toMatchObject({ usage: expected, stopReason: 'tool_use', endedCleanly: true, shortfall: 'none' });
    }
  });

  test('gzip-encoded and cut (the client hung up): what arrived is still read', () => {
    const packed = gzipSync(raw.bytes, { level: 1 });
    const cut = packed.subarray(0, packed.length - 40);
    const result = capture(withEncoding(raw, 'gzip'), cut, SPLITS[2]!);
    expect(result.endedCleanly).toBe(false);
    expect(result.usage?.inputTokens).toBe(expected.inputTokens);
    expect(result.usage?.cacheReadInputTokens).toBe(expected.cacheReadInputTokens);
  });

  test('more content than the event cap: usage stays exact, the shortfall is reported', () => {
    const result = capture(raw, raw.bytes, SPLITS[2]!, { maxEventBytes: 200 });
    expect(result).toMatchObject({ usage: expected, endedCleanly: true, shortfall: 'events_capped' });
    const kept = result.output?.kind === 'sse' ? result.output.events : [];
    expect(kept.reduce((n, e) => n + e.data.length, 0)).toBeLessThanOrEqual(200);
  });
});

test('an error event mid-stream: not clean, the usage that arrived is kept', async () => {
  fake.inject({ kind: 'mid_stream_error', afterEvents: 4, errorType: 'overloaded_error' });
  const raw = await post(fakeMessagesBody({ stream: true }));
  expect(raw.bytes.toString()).toContain('event: error');
  for (const split of SPLITS) {
    const result = capture(raw, raw.bytes, split);
    expect(result.endedCleanly).toBe(false);
    expect(result.usage?.inputTokens).toBeGreaterThan(0);
    expect(result.usage?.outputTokens).toBe(1);
  }
});

describe('a JSON answer', () => {
  let raw: RawResponse;
  let message: { content: unknown[]; stop_reason: string; usage: Record<string, unknown> };

  beforeAll(async () => {
    raw = await answerWithCache({ stream: false });
    message = JSON.parse(raw.bytes.toString('utf8')) as typeof message;
  });

  function expectedUsage(): Usage {
    const u = message.usage as Record<string, number> & { cache_creation: Record<string, number> };
    return {
      inputTokens: u.input_tokens!,
      outputTokens: u.output_tokens!,
      cacheCreationInputTokens: u.cache_creation_input_tokens!,
      cacheCreation5mInputTokens: u.cache_creation.ephemeral_5m_input_tokens!,
      cacheCreation1hInputTokens: u.cache_creation.ephemeral_1h_input_tokens!,
      cacheReadInputTokens: u.cache_read_input_tokens!,
    };
  }

  test.each(SPLITS)('$name: usage with cache fields, stop reason, content', (split) => {
    const result = capture(raw, raw.bytes, split);
    expect(result.usage).toEqual(expectedUsage());
    expect(result.usage?.cacheCreation1hInputTokens).toBeGreaterThan(0);
    expect(result.usage?.cacheCreation5mInputTokens).toBeGreaterThan(0);
    expect(result.usage?.cacheReadInputTokens).toBeGreaterThan(0);
    expect(result).toMatchObject({
      stopReason: 'tool_use',
      endedCleanly: true,
      shortfall: 'none',
      output: { kind: 'message', content: message.content },
    });
  });

  test('gzip-encoded: decoded after the end', () => {
    const result = capture(withEncoding(raw, 'gzip'), gzipSync(raw.bytes), SPLITS[2]!);
    expect(result.usage).toEqual(expectedUsage());
    expect(result.endedCleanly).toBe(true);
  });

  test('a body over the cap: reported as a shortfall, no usage, no crash', () => {
    const result = capture(raw, raw.bytes, SPLITS[2]!, { maxBodyBytes: 100 });
    expect(result).toEqual({
      usage: null,
      stopReason: null,
      endedCleanly: false,
      output: null,
      shortfall: 'body_capped',
    });
  });

  test('an upstream error answer (429) carries no usage and is not a shortfall', async () => {
    fake.inject({ kind: 'request_429' });
    const limited = await post(fakeMessagesBody());
    expect(limited.status).toBe(429);
    expect(capture(limited, limited.bytes, SPLITS[0]!)).toMatchObject({
      usage: null,
      endedCleanly: false,
      shortfall: 'none',
    });
  });
});
