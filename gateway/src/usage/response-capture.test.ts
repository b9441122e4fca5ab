// What the capture does with answers that are not well-formed: it must never throw into the relay.
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { gzipSync } from 'node:zlib';
import { createResponseCapture, type CaptureLimits, type CaptureResult } from './response-capture.js';

const SSE: IncomingHttpHeaders = { 'content-type': 'text/event-stream; charset=utf-8' };
const JSON_HEAD: IncomingHttpHeaders = { 'content-type': 'application/json' };

function run(headers: IncomingHttpHeaders, chunks: Buffer[], limits?: CaptureLimits): CaptureResult {
  const c = createResponseCapture(limits);
  c.onHead(200, headers);
  for (const chunk of chunks) c.onChunk(chunk);
  return c.result();
}

function garbage(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => randomBytes(1 + ((i * 37) % 400)));
}

const frame = (event: string, data: string) => Buffer.from(`event: ${event}\ndata: ${data}\n\n`);

describe('garbage never throws', () => {
  test.each([
    ['SSE', SSE],
    ['JSON', JSON_HEAD],
    ['gzip SSE', { ...SSE, 'content-encoding': 'gzip' }],
    ['gzip JSON', { ...JSON_HEAD, 'content-encoding': 'gzip' }],
    ['deflate JSON', { ...JSON_HEAD, 'content-encoding': 'deflate' }],
    ['br SSE', { ...SSE, 'content-encoding': 'br' }],
    ['an encoding we cannot read', { ...JSON_HEAD, 'content-encoding': 'zstd' }],
    ['no content type', {}],
  ])('%s: random bytes give no usage', (_name, headers: IncomingHttpHeaders) => {
    for (let round = 0; round < 20; round++) {
      const result = run(headers, garbage(30));
      expect(result.usage).toBeNull();
      expect(result.endedCleanly).toBe(false);
    }
  });

  test('a JSON body that is not JSON is reported unreadable', () => {
    expect(run(JSON_HEAD, [Buffer.from('{"type":"message","usage":')]).shortfall).toBe('unreadable');
  });

  test('a gzip body that is not gzip, or an unknown encoding, is reported unreadable', () => {
    expect(run({ ...JSON_HEAD, 'content-encoding': 'gzip' }, [Buffer.from('{"type":"message"}')]).shortfall).toBe(
      'unreadable',
    );
    expect(run({ ...JSON_HEAD, 'content-encoding': 'zstd' }, [Buffer.from('{"type":"message"}')]).shortfall).toBe(
      'unreadable',
    );
  });

  test('usage frames with broken JSON or nonsense counts are skipped, the good ones still count', () => {
    const result = run(SSE, [
      frame('message_start', '{"type":"message_start","message":'),
      frame(
        'message_start',
        JSON.stringify({ type: 'message_start', message: { usage: { input_tokens: 12, output_tokens: 1 } } }),
      ),
      frame(
        'message_delta',
        JSON.stringify({ type: 'message_delta', delta: {}, usage: { output_tokens: -5, input_tokens: 'many' } }),
      ),
      frame('message_delta', '[1,2'),
      frame(
        'message_delta',
        JSON.stringify({ type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 40 } }),
      ),
      frame('message_stop', '{"type":"message_stop"}'),
    ]);
    expect(result.usage).toMatchObject({ inputTokens: 12, outputTokens: 40 });
    expect(result).toMatchObject({ stopReason: 'end_turn', endedCleanly: true });
  });

  test('an error frame nobody can parse still makes the stream unclean', () => {
    const result = run(SSE, [
      frame(
        'message_start',
        JSON.stringify({ type: 'message_start', message: { usage: { input_tokens: 3, output_tokens: 1 } } }),
      ),
      frame('error', '<html>'),
      frame('message_stop', '{"type":"message_stop"}'),
    ]);
    expect(result.endedCleanly).toBe(false);
    expect(result.usage?.inputTokens).toBe(3);
  });
});

describe('bounds', () => {
  test('a compressed body that expands past the bound is unreadable, not a memory spike', () => {
    // 64 MiB of zeros gzips to ~64 KiB: well under the kept-bytes cap, far over the decode bound.
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const result = run({ ...JSON_HEAD, 'content-encoding': 'gzip' }, [bomb], { maxBodyBytes: 1024 * 1024 });
    expect(result.shortfall).toBe('unreadable');
    expect(result.usage).toBeNull();
  });

  test('an encoded body over the cap stops being kept and is reported', () => {
    const chunks = Array.from({ length: 50 }, () => randomBytes(1024));
    expect(run({ ...SSE, 'content-encoding': 'gzip' }, chunks, { maxBodyBytes: 10_000 }).shortfall).toBe('body_capped');
  });
});

describe('answered and result', () => {
  test('no response head (the gateway answered itself): not answered, nothing captured', () => {
    const c = createResponseCapture();
    expect(c.answered()).toBe(false);
    expect(c.result()).toEqual({ usage: null, stopReason: null, endedCleanly: false, output: null, shortfall: 'none' });
  });

  test('result() is computed once: later chunks or calls do not change it', () => {
    const c = createResponseCapture();
    c.onHead(200, SSE);
    c.onChunk(
      frame(
        'message_start',
        JSON.stringify({ type: 'message_start', message: { usage: { input_tokens: 7, output_tokens: 1 } } }),
      ),
    );
    expect(c.answered()).toBe(true);
    const first = c.result();
    c.onChunk(
      frame('message_delta', JSON.stringify({ type: 'message_delta', delta: {}, usage: { output_tokens: 99 } })),
    );
    expect(c.result()).toBe(first);
    expect(first.usage?.outputTokens).toBe(1);
  });

  test('identity encoding is plain bytes', () => {
    const body = Buffer.from(
      JSON.stringify({
        type: 'message',
        content: [],
        stop_reason: 'end_turn',
        usage: { input_tokens: 5, output_tokens: 2 },
      }),
    );
    expect(run({ ...JSON_HEAD, 'content-encoding': 'identity' }, [body]).usage).toMatchObject({
      inputTokens: 5,
      outputTokens: 2,
    });
  });
});
