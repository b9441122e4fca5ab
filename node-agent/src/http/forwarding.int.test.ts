// The node forwards faithfully through its tunnel: bytes both ways, streams unbuffered, errors unchanged, only the credential swapped.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { withDeadline } from '@switchyard/shared';
import {
  createFakeAnthropic,
  fakeMessagesBody,
  fakeOAuthHeaders,
  parseSseFrames,
  postFakeMessages,
  type FakeAnthropic,
  type StreamClosedEvent,
  waitFor,
} from '@switchyard/testkit';
import { apiKeyAuth, call, oauthAuth, startNode, startTap, viaTunnel, type TestNode } from './test-harness.js';

// Asymmetric matchers are typed any; naming them keeps the assertions typed.
const anyNumber: unknown = expect.any(Number);

let fake: FakeAnthropic;
let fakeUrl: string;
let tap: Awaited<ReturnType<typeof startTap>>;
let auth: ReturnType<typeof oauthAuth>;
let node: TestNode;

beforeAll(async () => {
  fake = createFakeAnthropic({
    accounts: [{ id: 'max-1' }, { id: 'key-1', kind: 'api_key' }],
    timing: { textDeltas: 12 },
  });
  fakeUrl = await fake.start();
  tap = await startTap(fakeUrl);
  auth = oauthAuth(fake, 'max-1');
  node = await startNode(tap.url, { auth });
});

afterAll(async () => {
  await node.close();
  await tap.close();
  await fake.stop();
});

const streamBody = () =>
  fakeMessagesBody({
    stream: true,
    thinking: { type: 'adaptive' },
    tools: [{ name: 'lookup', input_schema: { type: 'object', properties: { q: { type: 'string' } } } }],
    tool_choice: { type: 'any' },
  });

// Message and tool ids are random per response; everything else the fake writes is deterministic.
const withoutIds = (text: string) => text.replace(/"(msg|toolu)_01[A-Za-z0-9]+"/g, '"$1_ID"');

const HOP = /^(connection|keep-alive|transfer-encoding)$/i;
function pairs(raw: string[]): string[][] {
  const out: string[][] = [];
  for (let i = 0; i < raw.length; i += 2) if (!HOP.test(raw[i]!)) out.push([raw[i]!.toLowerCase(), raw[i + 1]!]);
  return out;
}

test('a stream with thinking, text and tool_use reaches the client byte for byte, frame for frame', async () => {
  const body = streamBody();
  const res = await call(node, { path: '/v1/messages?beta=true', body });
  expect(res.status).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
  const upstream = tap.records.at(-1)!;
  expect(upstream.url).toBe('/v1/messages?beta=true');
  expect(res.body.equals(upstream.responseBody)).toBe(true);
  expect(res.headers['request-id']).toBe(pairs(upstream.responseHeaders).find(([n]) => n === 'request-id')?.[1]);

  const direct = await (await postFakeMessages(fakeUrl, fakeOAuthHeaders(fake.issueAccessToken('max-1')), body)).text();
  const viaNode = res.body.toString('utf8');
  const events = parseSseFrames(viaNode).map((f) => f.event);
  expect(events).toEqual(parseSseFrames(direct).map((f) => f.event));
  expect(events).toEqual(expect.arrayContaining(['message_start', 'content_block_delta', 'message_stop']));
  expect(viaNode).toContain('"thinking_delta"');
  expect(viaNode).toContain('"input_json_delta"');
  expect(withoutIds(viaNode)).toBe(withoutIds(direct));
  expect(node.responses.at(-1)).toMatchObject({ status: 200, model: 'claude-sonnet-4-6' });
});

test('request bodies arrive byte for byte (odd spacing, escapes, multi-byte text, 600 KB)', async () => {
  const odd = Buffer.from(
    '{ "model" :"claude-sonnet-4-6",\n "max_tokens":16,"messages":[{"role":"user","content":"h\u00e9llo \u2713 \\u00e9 \ud83d\ude00"}]}',
  );
  const big = Buffer.from(
    JSON.stringify(fakeMessagesBody({ messages: [{ role: 'user', content: 'z\u00e9'.repeat(200_000) }] })),
  );
  for (const body of [odd, big]) {
    const res = await call(node, { body });
    expect(res.status).toBe(200);
    expect(tap.records.at(-1)!.requestBody.equals(body)).toBe(true);
    expect(tap.records.at(-1)!.headers['content-length']).toBe(String(body.length));
  }
});

test('GET /v1/models keeps its query and count_tokens is forwarded', async () => {
  const models = await call(node, { method: 'GET', path: '/v1/models?limit=2' });
  expect(models.status).toBe(200);
  expect((JSON.parse(models.body.toString()) as { data: unknown[] }).data).toHaveLength(2);
  expect(tap.records.at(-1)!.url).toBe('/v1/models?limit=2');
  expect(tap.records.at(-1)!.headers['content-length']).toBeUndefined();

  const count = await call(node, {
    path: '/v1/messages/count_tokens',
    body: { model: 'claude-sonnet-4-6', messages: [{ role: 'user', content: 'Say hi' }] },
  });
  expect(count.status).toBe(200);
  expect(JSON.parse(count.body.toString())).toEqual({ input_tokens: anyNumber });
});

test.each([
  ['429 with a rejected window', { kind: 'rate_limit', retryAfterSec: 42 } as const, 429],
  ['529 overloaded', { kind: 'overloaded' } as const, 529],
  ['500 api_error', { kind: 'server_error' } as const, 500],
])('upstream %s passes through unchanged and is reported', async (_name, fault, status) => {
  fake.inject({ ...fault, match: { accountId: 'max-1' } });
  const res = await call(node, { body: fakeMessagesBody() });
  const upstream = tap.records.at(-1)!;
  expect(res.status).toBe(status);
  expect(upstream.status).toBe(status);
  expect(res.body.equals(upstream.responseBody)).toBe(true);
  expect(pairs(res.rawHeaders)).toEqual(pairs(upstream.responseHeaders));
  const seen = node.responses.at(-1)!;
  expect(seen.status).toBe(status);
  if (status === 429) {
    expect(res.headers['retry-after']).toBe('42');
    expect(res.headers['anthropic-ratelimit-unified-status']).toBe('rejected');
    expect(res.headers['anthropic-ratelimit-unified-5h-utilization']).toBeDefined();
    expect(seen.headers['anthropic-ratelimit-unified-representative-claim']).toBe('five_hour');
    expect(seen.headers['retry-after']).toBe('42');
  }
});

let directNode: TestNode | undefined;

describe('without the tap', () => {
  beforeAll(async () => {
    directNode = await startNode(fakeUrl, { auth });
  });
  afterAll(() => directNode!.close());

  test('the client credentials, cookies, hop-by-hop and switchyard headers never reach upstream; identity passes untouched', async () => {
    const session = '1b4e28ba-2fa1-11d2-883f-0016d3cca427';
    const clientHeaders = {
      authorization: 'Bearer client-secret-1',
      'x-api-key': 'client-key-1',
      cookie: 'session=abc',
      connection: 'keep-alive, x-hop',
      'x-hop': 'drop me',
      'user-agent': 'claude-cli/2.1.330 (external, cli)',
      'x-app': 'cli',
      'x-claude-code-session-id': session,
      'x-stainless-lang': 'js',
      'anthropic-beta': [
        'claude-code-20250219, interleaved-thinking-2025-05-14',
        'oauth-2025-04-20,claude-code-20250219 ,fine-grained-tool-streaming-2025-05-14',
      ],
    };
    const res = await call(directNode!, { headers: clientHeaders, body: fakeMessagesBody() });
    expect(res.status).toBe(200);
    const seen = fake.requests.at(-1)!;
    expect(seen.headers.authorization).toBe(`Bearer ${auth.current().accessToken}`);
    expect(seen.authKind).toBe('bearer');
    expect(
      Object.keys(seen.headers).filter((h) => /^(x-api-key|cookie|x-hop|x-switchyard-.*|proxy-.*|te|upgrade)$/.test(h)),
    ).toEqual([]);
    expect(seen.betas).toEqual([
      'claude-code-20250219',
      'interleaved-thinking-2025-05-14',
      'oauth-2025-04-20',
      'fine-grained-tool-streaming-2025-05-14',
    ]);
    expect(seen.headers['user-agent']).toBe(clientHeaders['user-agent']);
    expect(seen.headers['x-app']).toBe('cli');
    expect(seen.headers['x-stainless-lang']).toBe('js');
    expect(seen.headers['anthropic-version']).toBe('2023-06-01');
    expect(seen.sessionId).toBe(session);
  });

  test('with tracing off, the trace context the gateway sends never reaches Anthropic', async () => {
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const res = await call(directNode!, { headers: { traceparent, tracestate: 'gw=1' }, body: fakeMessagesBody() });
    expect(res.status).toBe(200);
    const seen = fake.requests.at(-1)!;
    expect(Object.keys(seen.headers).filter((h) => /^trace(parent|state)$/.test(h))).toEqual([]);
    expect(JSON.stringify(seen.headers)).not.toContain('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  test('an OAuth account adds only its beta when the client sent none', async () => {
    const res = await call(directNode!, { body: fakeMessagesBody() });
    expect(res.status).toBe(200);
    expect(fake.requests.at(-1)!.betas).toEqual(['oauth-2025-04-20']);
  });

  test('an API-key account sends x-api-key, no Authorization, and the client betas as they were', async () => {
    const keyNode = await startNode(fakeUrl, { auth: apiKeyAuth(fake.account('key-1').apiKey!) });
    try {
      const res = await call(keyNode, {
        headers: { authorization: 'Bearer client-secret-1', 'anthropic-beta': 'claude-code-20250219' },
        body: fakeMessagesBody(),
      });
      expect(res.status).toBe(200);
      const seen = fake.requests.at(-1)!;
      expect([seen.authKind, seen.accountId, seen.headers.authorization]).toEqual(['api_key', 'key-1', undefined]);
      expect(seen.headers['x-api-key']).toBe(fake.account('key-1').apiKey);
      expect(seen.betas).toEqual(['claude-code-20250219']);
    } finally {
      await keyNode.close();
    }
  });

  test('a client abort mid-stream closes the upstream request (the stream stalled: only the abort can)', async () => {
    // The upstream stalls after its first events and writes nothing more until its request is closed: nothing but
    // the abort can close it. The time it took is printed; the requirement (100 ms) is not a test's to time.
    fake.setTiming({ deltaIntervalMs: 0, textDeltas: 40 });
    fake.inject({ kind: 'stall_after_events', afterEvents: 8 });
    try {
      const body = Buffer.from(JSON.stringify(streamBody()));
      const closed = new Promise<StreamClosedEvent & { at: number }>((resolve) => {
        const off = fake.on('stream-closed', (e) => {
          off();
          resolve({ ...e, at: performance.now() });
        });
      });
      const abortedAt = await new Promise<number>((resolve, reject) => {
        const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
        const req = http.request(
          'http://node.tunnel/v1/messages',
          { method: 'POST', headers, ...viaTunnel(directNode!) },
          (res) => {
            let events = 0;
            res.on('data', (chunk: Buffer) => {
              events += chunk.toString().split('\n\n').length - 1;
              if (events >= 4 && !req.destroyed) {
                const at = performance.now();
                req.destroy();
                resolve(at);
              }
            });
          },
        );
        req.on('error', (err) => (req.destroyed ? undefined : reject(err)));
        req.end(body);
      });
      const event = await withDeadline(closed, 20_000, 'the upstream request closed');
      const teardownMs = event.at - abortedAt;
      console.info(`client abort -> upstream stream-closed: ${teardownMs.toFixed(2)} ms`);
      expect(event.complete).toBe(false);
      expect(event.stream).toBe(true);
      await waitFor('the node to finish the request', () => directNode!.gate.inFlight === 0);
      expect(directNode!.log.lines.filter((l) => l.message === 'request done').at(-1)!.meta).toMatchObject({
        aborted: true,
        status: 200,
      });
    } finally {
      fake.setTiming({ deltaIntervalMs: 0, textDeltas: 12 });
    }
  });
});
