// The node's spans (docs/TRACING.md, "What a trace holds"), from the real app behind a real tunnel against the fake
// Anthropic, exported by a real tracer provider into memory: the server span under the gateway's tunnel hop,
// `credential` (with `oauth refresh` under it when a real OAuth account refreshes for the request), `chat <model>`
// with its GenAI attributes and events, errors, the access line's traceId, and nothing secret in any span.
import { randomBytes } from 'node:crypto';
import { newRequestId, SpanKind, SpanStatusCode } from '@switchyard/shared';
import {
  createFakeAnthropic,
  FAKE_MODEL,
  fakeMessagesBody,
  freePort,
  startSilentServer,
  waitFor,
  childrenOf,
  parentOf,
  registerTestTracing,
  type FakeAnthropic,
  type ReadableSpan,
  type TestTracing,
} from '@switchyard/testkit';
import type { AccountAuth } from '../credentials/account-auth.js';
import { createAccountAuth } from '../credentials/create-account-auth.js';
import { createHarness, tokensSeenByFake, type Harness } from '../credentials/test-harness.js';
import { apiKeyAuth, call, startNode, type CallOptions, type TestNode } from '../http/test-harness.js';

// Never to be seen in a span: the prompt and the answer (the fake answers with this text).
const PROMPT = 'sentinel prompt 5f0c3a: never in a span';
const ANSWER = 'sentinel answer 9b2e71: never in a span';
const anyNumber: unknown = expect.any(Number);

let tracing: TestTracing;
let fake: FakeAnthropic;
let fakeUrl: string;
let node: TestNode;
const secrets: string[] = [];

beforeAll(async () => {
  tracing = registerTestTracing();
  fake = createFakeAnthropic({ accounts: [{ id: 'key-1', kind: 'api_key' }], timing: { responseText: ANSWER } });
  fakeUrl = await fake.start();
  const apiKey = fake.account('key-1').apiKey!;
  secrets.push(apiKey);
  node = await startNode(fakeUrl, { auth: apiKeyAuth(apiKey), tracing: true });
});

afterAll(async () => {
  await node.close();
  await fake.stop();
  await tracing.stop();
});

/** A traceparent as the gateway's tunnel hop sends it. */
function tunnelHop(): { traceId: string; spanId: string; traceparent: string } {
  const traceId = randomBytes(16).toString('hex');
  const spanId = randomBytes(8).toString('hex');
  return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
}

const messages = (overrides: Record<string, unknown> = {}) =>
  fakeMessagesBody({ messages: [{ role: 'user', content: PROMPT }], ...overrides });

/** Calls the node and waits until the request's server span and `count` spans of its trace in all have ended. */
async function traced(
  target: TestNode,
  count: number,
  opts: CallOptions = {},
): Promise<{ status: number; requestId: string; server: ReadableSpan; spans: ReadableSpan[] }> {
  const requestId = newRequestId();
  const res = await call(target, { body: messages(), ...opts, requestId });
  const found = await waitFor(
    `${count} spans of request ${requestId}`,
    () => {
      const server = tracing
        .spans()
        .find((s) => s.kind === SpanKind.SERVER && s.attributes['switchyard.request_id'] === requestId);
      if (server === undefined) return undefined;
      const spans = tracing.spans().filter((s) => s.spanContext().traceId === server.spanContext().traceId);
      return spans.length >= count ? { server, spans } : undefined;
    },
    20_000,
  );
  expect(found.spans).toHaveLength(count);
  return { status: res.status, requestId, ...found };
}

function accessLine(target: TestNode, requestId: string): Record<string, unknown> | undefined {
  return target.log.lines.find((l) => l.message === 'request done' && l.meta.requestId === requestId)?.meta;
}

const names = (spans: readonly ReadableSpan[]) => spans.map((s) => s.name);

test("a stream: the server span under the gateway's tunnel hop; credential, then chat <model> with the GenAI attributes, first_byte and first_text_delta", async () => {
  const hop = tunnelHop();
  const { status, requestId, server, spans } = await traced(node, 3, {
    headers: { traceparent: hop.traceparent, tracestate: 'gw=1', 'user-agent': 'claude-cli/2.1.0 (external, cli)' },
    body: messages({ stream: true }),
  });
  expect(status).toBe(200);

  expect(server.spanContext().traceId).toBe(hop.traceId);
  expect(parentOf(server)).toBe(hop.spanId);
  expect([server.name, server.kind, server.status.code]).toEqual(['POST /v1/messages', SpanKind.SERVER, 0]);
  expect(server.attributes).toEqual({
    'http.request.method': 'POST',
    'http.route': '/v1/messages',
    'url.path': '/v1/messages',
    'user_agent.original': 'claude-cli/2.1.0 (external, cli)',
    'switchyard.request_id': requestId,
    'http.response.status_code': 200,
  });

  const [credential, chat] = childrenOf(spans, server);
  expect([credential!.name, credential!.kind]).toEqual(['credential', SpanKind.INTERNAL]);
  expect(credential!.attributes).toEqual({ 'switchyard.account.kind': 'api_key' });
  expect([chat!.name, chat!.kind, chat!.status.code]).toEqual([`chat ${FAKE_MODEL}`, SpanKind.CLIENT, 0]);
  expect(chat!.attributes).toEqual({
    'gen_ai.operation.name': 'chat',
    'gen_ai.provider.name': 'anthropic',
    'gen_ai.request.model': FAKE_MODEL,
    'server.address': '127.0.0.1',
    'server.port': Number(new URL(fakeUrl).port),
    'http.request.method': 'POST',
    'http.response.status_code': 200,
    'switchyard.ttfb_ms': anyNumber,
    'switchyard.first_text_delta_ms': anyNumber,
  });
  expect(chat!.events.map((e) => e.name)).toEqual(['first_byte', 'first_text_delta']);
  expect(chat!.attributes['switchyard.first_text_delta_ms']).toBeGreaterThanOrEqual(
    chat!.attributes['switchyard.ttfb_ms'] as number,
  );

  // Anthropic never sees our trace: no trace context among the headers it got.
  const seen = fake.requests.at(-1)!;
  expect(Object.keys(seen.headers).filter((h) => /^trace(parent|state)$/.test(h))).toEqual([]);
  expect(JSON.stringify(seen.headers)).not.toContain(hop.traceId);
  // The access line names the trace.
  expect(accessLine(node, requestId)).toMatchObject({ traceId: hop.traceId, status: 200 });
});

test('a JSON answer with no traceparent: a root server span, chat with first_byte and no text-delta event', async () => {
  const { status, server, spans } = await traced(node, 3);
  expect(status).toBe(200);
  expect(parentOf(server)).toBeUndefined();
  const chat = childrenOf(spans, server)[1]!;
  expect(chat.name).toBe(`chat ${FAKE_MODEL}`);
  expect(chat.events.map((e) => e.name)).toEqual(['first_byte']);
  expect(chat.attributes['switchyard.first_text_delta_ms']).toBeUndefined();
  expect(chat.attributes['http.response.status_code']).toBe(200);
});

test('a body naming no model is `chat`; count_tokens is a plain HTTP client span; a 404 carries its error code', async () => {
  const noModel = await traced(node, 3, { body: { max_tokens: 5, messages: [{ role: 'user', content: PROMPT }] } });
  const chat = childrenOf(noModel.spans, noModel.server)[1]!;
  expect(chat.name).toBe('chat');
  expect(chat.attributes['gen_ai.request.model']).toBeUndefined();

  const count = await traced(node, 3, { path: '/v1/messages/count_tokens' });
  expect(count.status).toBe(200);
  expect(count.server.name).toBe('POST /v1/messages/count_tokens');
  const client = childrenOf(count.spans, count.server)[1]!;
  expect([client.name, client.kind]).toEqual(['POST /v1/messages/count_tokens', SpanKind.CLIENT]);
  expect(Object.keys(client.attributes).filter((k) => k.startsWith('gen_ai.'))).toEqual([]);

  const missing = await traced(node, 1, { path: '/v1/nothing' });
  expect(missing.status).toBe(404);
  expect(missing.server.name).toBe('POST');
  expect(missing.server.attributes).toMatchObject({ 'error.type': 'not_found', 'http.response.status_code': 404 });
  expect(missing.server.attributes['http.route']).toBeUndefined();
  // A 4xx is the client's error: the server span's status stays unset.
  expect(missing.server.status.code).toBe(SpanStatusCode.UNSET);
});

describe('failures mark the chat span (and a 5xx answer the server span) as errors', () => {
  test('Anthropic answers 529: error.type 529 on both', async () => {
    fake.inject({ kind: 'overloaded' });
    const { status, server, spans } = await traced(node, 3);
    expect(status).toBe(529);
    const chat = childrenOf(spans, server)[1]!;
    expect([chat.status.code, chat.attributes['error.type']]).toEqual([SpanStatusCode.ERROR, '529']);
    expect([server.status.code, server.attributes['error.type']]).toEqual([SpanStatusCode.ERROR, '529']);
  });

  test('a stream broken off mid-body: incomplete_response on the chat span', async () => {
    fake.inject({ kind: 'reset_after_bytes', bytes: 600 });
    const requestId = newRequestId();
    await expect(call(node, { requestId, body: messages({ stream: true }) })).rejects.toThrow(
      /aborted|socket hang up|ECONNRESET/,
    );
    const chat = await waitFor('the broken chat span', () =>
      tracing.spans().find((s) => s.kind === SpanKind.CLIENT && s.attributes['error.type'] === 'incomplete_response'),
    );
    expect(chat.status.code).toBe(SpanStatusCode.ERROR);
  });

  test('Anthropic unreachable: upstream_unreachable; no response head in time: upstream_timeout', async () => {
    const unreachable = await startNode(`http://127.0.0.1:${await freePort()}`, {
      auth: apiKeyAuth('k'),
      tracing: true,
    });
    const silent = await startSilentServer();
    const stuck = await startNode(`http://127.0.0.1:${silent.port}`, {
      auth: apiKeyAuth('k'),
      tracing: true,
      upstreamTimeouts: { connectMs: 10_000, headersMs: 300 },
    });
    try {
      for (const [target, status, code] of [
        [unreachable, 502, 'upstream_unreachable'],
        [stuck, 504, 'upstream_timeout'],
      ] as const) {
        const { server, spans, ...res } = await traced(target, 3);
        expect(res.status).toBe(status);
        const chat = childrenOf(spans, server)[1]!;
        expect([chat.status.code, chat.attributes['error.type']]).toEqual([SpanStatusCode.ERROR, code]);
        expect(chat.attributes['http.response.status_code']).toBeUndefined();
        expect(chat.events).toEqual([]);
        expect([server.status.code, server.attributes['error.type']]).toEqual([SpanStatusCode.ERROR, code]);
      }
    } finally {
      await unreachable.close();
      await stuck.close();
      await silent.close();
    }
  });
});

test('a node with tracing off makes no span, sends no trace context upstream and logs no traceId', async () => {
  const off = await startNode(fakeUrl, { auth: apiKeyAuth(fake.account('key-1').apiKey!) });
  try {
    const before = tracing.spans().length;
    const hop = tunnelHop();
    const requestId = newRequestId();
    const res = await call(off, { requestId, headers: { traceparent: hop.traceparent }, body: messages() });
    expect(res.status).toBe(200);
    const line = await waitFor('the access line', () => accessLine(off, requestId));
    expect(line.traceId).toBeUndefined();
    expect(tracing.spans()).toHaveLength(before);
    expect(JSON.stringify(fake.requests.at(-1)!.headers)).not.toContain(hop.traceId);
  } finally {
    await off.close();
  }
});

describe('a real OAuth account (its refresher against the fake token endpoint)', () => {
  let h: Harness;
  let auth: AccountAuth;
  let oauthNode: TestNode;

  beforeAll(async () => {
    h = await createHarness({
      fake: { accounts: [{ id: 'acct-1', email: 'one@example.test' }], timing: { responseText: ANSWER } },
    });
    const refreshToken = h.fake.issueRefreshToken('acct-1');
    secrets.push(refreshToken, h.token);
    // A refresh token alone, and the account not started (no background refresh): the first request refreshes it.
    auth = await createAccountAuth({
      config: h.config({ CLAUDE_REFRESH_TOKEN: refreshToken }),
      copy: h.copy,
      egress: h.egress,
      log: h.captured.log,
    });
    oauthNode = await startNode(h.url, { auth, tracing: true });
  });

  afterAll(async () => {
    await oauthNode.close();
    await auth.stop();
    const record = await h.file.read();
    secrets.push(...tokensSeenByFake(h.fake), ...(record ? [record.access, record.refresh] : []));
    await h.cleanup();
  });

  test('a token refreshed for the request: `oauth refresh` under its credential span', async () => {
    const { status, server, spans } = await traced(oauthNode, 4, { body: messages({ stream: true }) });
    expect(status).toBe(200);
    expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['ok']);
    const [credential, chat] = childrenOf(spans, server);
    expect(names([credential!, chat!])).toEqual(['credential', `chat ${FAKE_MODEL}`]);
    expect(credential!.attributes).toEqual({ 'switchyard.account.kind': 'oauth' });
    const [refresh, ...more] = childrenOf(spans, credential!);
    expect(more).toEqual([]);
    expect([refresh!.name, refresh!.kind, refresh!.status.code]).toEqual([
      'oauth refresh',
      SpanKind.INTERNAL,
      SpanStatusCode.UNSET,
    ]);
    expect(chat!.events.map((e) => e.name)).toEqual(['first_byte', 'first_text_delta']);
  });

  test('a 401: the refresh under a credential span of its own, the replay a second chat span', async () => {
    const { token } = await auth.credentialHeaders();
    h.fake.expireAccessToken(token);
    const { status, requestId, server, spans } = await traced(oauthNode, 7);
    expect(status).toBe(200);
    const children = childrenOf(spans, server);
    expect(names(children)).toEqual([
      'credential',
      `chat ${FAKE_MODEL}`,
      'credential',
      'credential',
      `chat ${FAKE_MODEL}`,
    ]);
    expect(children.map((s) => s.attributes['http.response.status_code'])).toEqual([
      undefined,
      401,
      undefined,
      undefined,
      200,
    ]);
    // A client span marks a 4xx as an error (HTTP conventions); the replay's answer is fine.
    expect([children[1]!.status.code, children[1]!.attributes['error.type']]).toEqual([SpanStatusCode.ERROR, '401']);
    expect(children[4]!.status.code).toBe(SpanStatusCode.UNSET);
    expect(names(childrenOf(spans, children[0]!))).toEqual([]);
    expect(names(childrenOf(spans, children[2]!))).toEqual(['oauth refresh']);
    expect(names(childrenOf(spans, children[3]!))).toEqual([]);
    expect(accessLine(oauthNode, requestId)).toMatchObject({
      traceId: server.spanContext().traceId,
      replayed: true,
    });
  });
});

// Last: every span this file made, read whole.
test('no span holds a credential, the prompt or the answer', () => {
  expect(tracing.spans().length).toBeGreaterThan(20);
  expect(secrets.length).toBeGreaterThan(4);
  const text = JSON.stringify(
    tracing.spans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events, links: s.links })),
  );
  expect(text).toContain('chat');
  for (const secret of [...secrets, PROMPT, ANSWER, 'Say hi']) expect(text).not.toContain(secret);
});
