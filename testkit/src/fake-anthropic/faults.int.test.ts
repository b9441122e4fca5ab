// Every /v1 fault switch, observed from a client.
import { Anthropic, APIError } from '@anthropic-ai/sdk';
import { OAUTH_BETA } from './auth.js';
import { createFakeAnthropic } from './create-fake-anthropic.js';
import { FAKE_MODEL, fakeMessagesBody, fakeOAuthHeaders, parseSseFrames, postFakeMessages } from './test-support.js';
import type { FakeAnthropic } from './types.js';

let fake: FakeAnthropic;
let url: string;

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1' }, { id: 'max-2' }] });
  url = await fake.start();
});

afterAll(() => fake.stop());

afterEach(() => {
  fake.clearFaults();
  fake.setUtilization('max-1', { fiveHour: 0.1, sevenDay: 0.2 });
});

const send = (account = 'max-1', body: Record<string, unknown> = fakeMessagesBody()) =>
  postFakeMessages(url, fakeOAuthHeaders(fake.issueAccessToken(account)), body);

async function errorType(response: Response): Promise<string> {
  return ((await response.json()) as { error: { type: string } }).error.type;
}

function unifiedHeaderNames(response: Response): string[] {
  return [...response.headers.keys()].filter((name) => name.startsWith('anthropic-ratelimit-unified'));
}

describe('error faults', () => {
  test('rate_limit: 429 with the five_hour window rejected, its reset and retry-after', async () => {
    fake.inject({ kind: 'rate_limit', resetInSec: 1800 });
    const response = await send();
    expect(response.status).toBe(429);
    expect(await errorType(response)).toBe('rate_limit_error');
    const h = response.headers;
    expect(h.get('anthropic-ratelimit-unified-status')).toBe('rejected');
    expect(h.get('anthropic-ratelimit-unified-5h-status')).toBe('rejected');
    expect(h.get('anthropic-ratelimit-unified-7d-status')).toBe('allowed');
    expect(h.get('anthropic-ratelimit-unified-representative-claim')).toBe('five_hour');
    const reset = Number(h.get('anthropic-ratelimit-unified-reset'));
    expect(reset).toBe(Number(h.get('anthropic-ratelimit-unified-5h-reset')));
    expect(Math.abs(reset - (Date.now() / 1000 + 1800))).toBeLessThan(60);
    expect(h.get('retry-after')).toBe('1800');
    expect((await send()).status).toBe(200);
  });

  test('rate_limit for one model family hits only that model, naming its own window', async () => {
    fake.inject({ kind: 'rate_limit', modelFamily: 'opus', match: { model: 'opus' }, times: 5 });
    expect((await send()).status).toBe(200);
    const response = await send('max-1', fakeMessagesBody({ model: 'claude-opus-4-7' }));
    expect(response.status).toBe(429);
    expect(response.headers.get('anthropic-ratelimit-unified-7d_opus-status')).toBe('rejected');
    expect(response.headers.get('anthropic-ratelimit-unified-representative-claim')).toBe('seven_day_opus');
  });

  test('request_429: 429 without any unified window header, with retry-after and x-should-retry', async () => {
    fake.inject({ kind: 'request_429', retryAfterSec: 2 });
    const response = await send();
    expect(response.status).toBe(429);
    expect(await errorType(response)).toBe('rate_limit_error');
    expect(unifiedHeaderNames(response)).toEqual([]);
    expect(response.headers.get('retry-after')).toBe('2');
    expect(response.headers.get('x-should-retry')).toBe('true');
  });

  test('overloaded (529) and server_error (500 or a given status), each for `times` requests', async () => {
    fake.inject({ kind: 'overloaded', times: 2 });
    const first = await send();
    expect([first.status, await errorType(first)]).toEqual([529, 'overloaded_error']);
    expect((await send()).status).toBe(529);
    expect((await send()).status).toBe(200);

    fake.inject({ kind: 'server_error' });
    fake.inject({ kind: 'server_error', status: 503 });
    const plain = await send();
    expect([plain.status, await errorType(plain)]).toEqual([500, 'api_error']);
    expect((await send()).status).toBe(503);
  });

  test('a fault matched to one account leaves the other alone', async () => {
    fake.inject({ kind: 'overloaded', match: { accountId: 'max-2' } });
    expect((await send('max-1')).status).toBe(200);
    expect((await send('max-2')).status).toBe(529);
  });

  test('utilization at or over 1.0 rejects the account until lowered; 0.8+ warns', async () => {
    fake.setUtilization('max-1', { sevenDay: 0.85 });
    const warned = await send();
    expect(warned.headers.get('anthropic-ratelimit-unified-status')).toBe('allowed_warning');
    expect(warned.headers.get('anthropic-ratelimit-unified-7d-utilization')).toBe('0.85');
    fake.setUtilization('max-1', { fiveHour: 1.01 });
    const rejected = await send();
    expect(rejected.status).toBe(429);
    expect(rejected.headers.get('anthropic-ratelimit-unified-representative-claim')).toBe('five_hour');
    expect(Number(rejected.headers.get('retry-after'))).toBeGreaterThan(0);
    expect((await send('max-2')).status).toBe(200);
    // Once the window's reset time has passed, the window starts over empty.
    fake.setUtilization('max-1', { fiveHourResetsAt: Math.floor(Date.now() / 1000) - 1 });
    const renewed = await send();
    expect(renewed.status).toBe(200);
    expect(renewed.headers.get('anthropic-ratelimit-unified-5h-utilization')).toBe('0');
  });
});

describe('transport faults', () => {
  test('slow_first_byte delays the status line', async () => {
    fake.inject({ kind: 'slow_first_byte', delayMs: 300 });
    const started = Date.now();
    const response = await send();
    expect(response.status).toBe(200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
  });

  test('reset_after_bytes cuts a JSON body: the client sees a truncated body and an error', async () => {
    fake.inject({ kind: 'reset_after_bytes', bytes: 40 });
    const response = await send();
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
    expect((await send()).status).toBe(200);
  });

  test('reset_after_bytes cuts a stream after N bytes', async () => {
    fake.inject({ kind: 'reset_after_bytes', bytes: 120 });
    const response = await send('max-1', fakeMessagesBody({ stream: true }));
    const reader = (response.body as ReadableStream<Uint8Array>).getReader();
    let received = 0;
    const outcome = await (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return 'ended';
        received += value.length;
      }
    })().catch(() => 'error');
    expect(outcome).toBe('error');
    expect(received).toBe(120);
  });

  test('mid_stream_error sends an `event: error` frame after K events and ends the stream', async () => {
    fake.inject({ kind: 'mid_stream_error', afterEvents: 3 });
    const response = await send('max-1', fakeMessagesBody({ stream: true }));
    const frames = parseSseFrames(await response.text());
    expect(frames.map((frame) => frame.event)).toEqual(['message_start', 'ping', 'content_block_start', 'error']);
    const error = JSON.parse(frames[3]?.data ?? '{}') as { type: string; error: { type: string }; request_id: string };
    expect(error).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    expect(error.request_id).toBe(response.headers.get('request-id'));
  });

  test('mid_stream_error surfaces in the SDK as an APIError of type overloaded_error', async () => {
    fake.inject({ kind: 'mid_stream_error', afterEvents: 4 });
    const client = new Anthropic({
      baseURL: url,
      authToken: fake.issueAccessToken('max-1'),
      apiKey: null,
      defaultHeaders: { 'anthropic-beta': OAUTH_BETA },
      maxRetries: 0,
    });
    const stream = client.messages.stream({
      model: FAKE_MODEL,
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    });
    const failure = await stream.finalMessage().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(APIError);
    expect((failure as APIError).type).toBe('overloaded_error');
  });

  test('stall_after_events writes K events, then nothing until the client hangs up; only message_start is counted', async () => {
    fake.inject({ kind: 'stall_after_events', afterEvents: 1 });
    const before = fake.usageTotals('max-1');
    const closed = new Promise<{ complete: boolean; eventsSent: number }>((resolve) => {
      const off = fake.on('stream-closed', (event) => {
        off();
        resolve(event);
      });
    });
    const controller = new AbortController();
    const response = await postFakeMessages(
      url,
      fakeOAuthHeaders(fake.issueAccessToken('max-1')),
      fakeMessagesBody({ stream: true }),
      { signal: controller.signal },
    );
    const reader = response.body!.getReader();
    let seen = '';
    while (!seen.includes('event: message_start'))
      seen += Buffer.from((await reader.read()).value ?? []).toString('utf8');
    expect(fake.openRequests()).toBe(1);
    controller.abort();
    expect(await closed).toMatchObject({ complete: false, eventsSent: 1 });
    const after = fake.usageTotals('max-1');
    expect({ requests: after.requests - before.requests, output: after.output - before.output }).toEqual({
      requests: 1,
      output: 1,
    });
  });

  test('body faults are not spent on requests they do not fit', async () => {
    fake.inject({ kind: 'mid_stream_error', afterEvents: 1 });
    expect((await send()).status).toBe(200);
    const frames = parseSseFrames(await (await send('max-1', fakeMessagesBody({ stream: true }))).text());
    expect(frames.at(-1)?.event).toBe('error');
  });
});
