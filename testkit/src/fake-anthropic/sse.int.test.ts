// The raw SSE wire format, and what happens when a client or the fake hangs up mid-stream.
import { withDeadline } from '@switchyard/shared';
import { waitFor } from '../wait-for.js';
import { createFakeAnthropic } from './create-fake-anthropic.js';
import { fakeMessagesBody, fakeOAuthHeaders, parseSseFrames, postFakeMessages } from './test-support.js';
import type { FakeAnthropic, StreamClosedEvent } from './types.js';

let fake: FakeAnthropic;
let url: string;

beforeAll(async () => {
  fake = createFakeAnthropic({ timing: { textDeltas: 4 } });
  url = await fake.start();
});

afterAll(() => fake.stop());

const streamBody = (extra: Record<string, unknown> = {}) =>
  fakeMessagesBody({
    stream: true,
    thinking: { type: 'adaptive' },
    tools: [{ name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }],
    tool_choice: { type: 'any' },
    ...extra,
  });

function nextStreamClosed(target: FakeAnthropic): Promise<StreamClosedEvent> {
  return new Promise((resolve) => {
    const off = target.on('stream-closed', (event) => {
      off();
      resolve(event);
    });
  });
}

test('frames follow docs/ANTHROPIC.md §5 and every data line is JSON typed like its event', async () => {
  const response = await postFakeMessages(url, fakeOAuthHeaders(fake.issueAccessToken('acct-1')), streamBody());
  expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
  expect(response.headers.get('request-id')).toMatch(/^req_/);
  expect(response.headers.get('anthropic-ratelimit-unified-status')).toBe('allowed');
  const text = await response.text();
  expect(text.endsWith('\n\n')).toBe(true);
  const frames = parseSseFrames(text);

  const block = (deltas: number) => [
    'content_block_start',
    ...Array<string>(deltas).fill('content_block_delta'),
    'content_block_stop',
  ];
  expect(frames.map((frame) => frame.event)).toEqual([
    'message_start',
    'ping',
    ...block(3), // two thinking_delta + signature_delta
    ...block(4), // textDeltas: 4
    ...block(3), // input_json_delta chunks
    'message_delta',
    'message_stop',
  ]);
  const data = frames.map((frame) => JSON.parse(frame.data) as { type: string; [key: string]: unknown });
  data.forEach((payload, i) => expect(payload.type).toBe(frames[i]?.event));

  const start = data[0] as unknown as { message: { usage: { output_tokens: number; input_tokens: number } } };
  expect(start.message.usage.output_tokens).toBe(1);
  const deltas = data.filter((payload) => payload.type === 'content_block_delta');
  const deltaTypes = deltas.map((payload) => (payload.delta as { type: string }).type);
  expect(deltaTypes).toEqual([
    'thinking_delta',
    'thinking_delta',
    'signature_delta',
    ...Array<string>(4).fill('text_delta'),
    ...Array<string>(3).fill('input_json_delta'),
  ]);
  const messageDelta = data.at(-2) as unknown as {
    delta: { stop_reason: string };
    usage: { output_tokens: number; input_tokens: number };
  };
  expect(messageDelta.delta.stop_reason).toBe('tool_use');
  expect(messageDelta.usage.input_tokens).toBe(start.message.usage.input_tokens);
  expect(messageDelta.usage.output_tokens).toBeGreaterThan(1);
});

test('a finished stream reports complete; its usage is counted once', async () => {
  fake.reset();
  const closed = nextStreamClosed(fake);
  await (await postFakeMessages(url, fakeOAuthHeaders(fake.issueAccessToken('acct-1')), streamBody())).text();
  expect(await closed).toMatchObject({ complete: true, stream: true, accountId: 'acct-1' });
  expect(fake.usageTotals('acct-1').requests).toBe(1);
  expect(fake.usageTotals('acct-1').output).toBeGreaterThan(1);
});

test('a client abort mid-stream is seen, and only the usage already sent is counted', async () => {
  const paced = createFakeAnthropic({ timing: { textDeltas: 200 } });
  const pacedUrl = await paced.start();
  try {
    // The stream stalls after its first delta (message_start, ping, content_block_start, one delta): only the
    // client's abort can close it, and what was sent is known.
    paced.inject({ kind: 'stall_after_events', afterEvents: 4 });
    const controller = new AbortController();
    const response = await postFakeMessages(
      pacedUrl,
      fakeOAuthHeaders(paced.issueAccessToken('acct-1')),
      streamBody(),
      {
        signal: controller.signal,
      },
    );
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let seen = '';
    while (!seen.includes('content_block_delta')) {
      const { value } = await reader.read();
      seen += new TextDecoder().decode(value);
    }
    const closed = nextStreamClosed(paced);
    controller.abort();
    const event = await withDeadline(closed, 20_000, 'the aborted stream closed');
    expect(event.complete).toBe(false);
    expect(event.eventsSent).toBe(4);
    expect(paced.usageTotals('acct-1')).toMatchObject({ requests: 1, output: 1 });
  } finally {
    await paced.stop();
  }
});

test('stop() closes open streams and hung connections instead of waiting for them', async () => {
  const slow = createFakeAnthropic({ timing: { deltaIntervalMs: 1000, textDeltas: 100 } });
  const slowUrl = await slow.start();
  const response = await postFakeMessages(slowUrl, fakeOAuthHeaders(slow.issueAccessToken('acct-1')), streamBody());
  slow.inject({ kind: 'token_timeout' });
  const hung = fetch(`${slowUrl}/v1/oauth/token`, { method: 'POST', body: '{}' }).catch(() => 'closed');
  const body = response.text().catch(() => 'closed');
  await waitFor('the token request to hang', () => slow.tokenRequests.length > 0);

  const closed = nextStreamClosed(slow);
  // The stream would take 100 s and the token request never ends: a stop() waiting for them misses the limit.
  await withDeadline(slow.stop(), 20_000, 'stop() with a stream and a request open');
  expect((await closed).complete).toBe(false);
  expect(await body).toBe('closed');
  expect(await hung).toBe('closed');
});
