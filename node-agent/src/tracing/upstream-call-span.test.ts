// The chat span's stream scan, on the relayed chunks as they come: the first text delta's marker found wherever
// the chunks split it, and nothing else taken for it.
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { SpanStatusCode, switchyardTracer } from '@switchyard/shared';
import { registerTestTracing, type TestTracing } from '@switchyard/testkit';
import { INCOMPLETE_RESPONSE, UpstreamCallSpan } from './upstream-call-span.js';

let tracing: TestTracing;
beforeAll(() => {
  tracing = registerTestTracing();
});
afterAll(() => tracing.stop());

const frame = (data: object) => `event: content_block_delta\ndata: ${JSON.stringify(data)}\n\n`;
const TEXT = frame({ type: 'content_block_delta', index: 1, delta: { type: 'text_delta', text: 'Hi' } });

let spanCount = 0;

/** Relays `chunks` through a span and resolves with the ended span. */
async function relay(chunks: string[], opts: { complete?: boolean; type?: string } = {}) {
  const upRes = Object.assign(new PassThrough(), {
    headers: { 'content-type': opts.type ?? 'text/event-stream; charset=utf-8' },
    statusCode: 200,
    complete: opts.complete ?? true,
  });
  const name = `chat ${(spanCount += 1)}`;
  const span = switchyardTracer().startSpan(name);
  const call = new UpstreamCallSpan(span);
  call.answered(upRes as unknown as IncomingMessage);
  call.relayed(upRes as unknown as IncomingMessage, { gone: false });
  upRes.resume(); // what relay.ts's pipe does
  const closed = new Promise((resolve) => upRes.once('close', resolve));
  for (const chunk of chunks) upRes.write(Buffer.from(chunk));
  upRes.end();
  await closed;
  return tracing.spans().find((s) => s.name === name)!;
}

const events = (s: { events: { name: string }[] }) => s.events.map((e) => e.name);

test('the marker in one chunk, or split over two or three, is one first_text_delta event', async () => {
  const at = TEXT.indexOf('"text_delta"');
  for (const chunks of [
    [TEXT, TEXT],
    [TEXT.slice(0, at + 5), TEXT.slice(at + 5)],
    [TEXT.slice(0, at + 1), TEXT.slice(at + 1, at + 4), TEXT.slice(at + 4, at + 9), TEXT.slice(at + 9), TEXT],
  ]) {
    const span = await relay(chunks);
    expect(events(span)).toEqual(['first_byte', 'first_text_delta']);
    expect(span.attributes['switchyard.first_text_delta_ms']).toEqual(expect.any(Number));
  }
});

test("thinking, and a tool's JSON quoting the marker, are no text delta; nor is anything in a JSON body", async () => {
  const quiet = [
    frame({ type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: 'hmm' } }),
    frame({
      type: 'content_block_delta',
      index: 0,
      delta: { type: 'input_json_delta', partial_json: '{"type": "text_delta"' },
    }),
  ];
  expect(events(await relay(quiet))).toEqual(['first_byte']);
  expect(events(await relay([TEXT], { type: 'application/json' }))).toEqual(['first_byte']);
});

test('a body the upstream broke off is an error of the span', async () => {
  const span = await relay([TEXT.slice(0, 10)], { complete: false });
  expect([span.status.code, span.attributes['error.type']]).toEqual([SpanStatusCode.ERROR, INCOMPLETE_RESPONSE]);
});
