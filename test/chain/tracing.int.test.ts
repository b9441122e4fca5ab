// One request, one trace, across the fleet (docs/TRACING.md), on the real processes: a gateway, two node-agents
// (one holding an OAuth login, one an API key) and the usage worker, all exporting over OTLP/HTTP to a receiver
// in this test; the fake Anthropic upstream behind them. A streamed request carrying the client's traceparent
// meets a 529 on its first node and fails over to the other. What the receiver gets must be one trace under the
// client's span (the gateway's spans, the node's under the tunnel hop that was answered), the worker's job span
// linked to the gateway's request span, the GenAI attributes, the failover event, a traceresponse header naming
// the trace, no trace context sent to Anthropic, the trace id on each process's log line, and not one secret or
// prompt anywhere in what was exported. Then: a token refreshed after a 401 (an oauth refresh span under the
// credential span, no token exported), and refusals (a 401 and a 5xx: traceresponse, error.type, the span status
// an error for the 5xx only, the presented key never exported), and a malformed traceparent ignored. The
// processes run from source.
import { randomBytes, randomUUID } from 'node:crypto';
import {
  startOtlpReceiver,
  startStack,
  testRedisUrl,
  waitFor,
  type OtlpReceiver,
  type ReceivedSpan,
  type Stack,
} from '@switchyard/testkit';

jest.setTimeout(90_000);

const MODEL = 'claude-sonnet-4-6';
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
// Planted where a careless span would pick them up: the prompt, the completion, a header's value.
const PROMPT_SENTINEL = `prompt-sentinel-${hex(8)}`;
const SYSTEM_SENTINEL = `system-sentinel-${hex(8)}`;
const COMPLETION_SENTINEL = `completion-sentinel-${hex(8)}`;
const HEADER_SENTINEL = `header-sentinel-${hex(8)}`;
const SESSION_SENTINEL = randomUUID();

let receiver: OtlpReceiver;
let stack: Stack;

beforeAll(async () => {
  receiver = await startOtlpReceiver();
  stack = await startStack({
    redisUrl: testRedisUrl(),
    nodes: [{ id: 'node-a' }, { id: 'node-b', kind: 'api_key' }],
    worker: { LOG_LEVEL: 'debug' },
    otel: { endpoint: receiver.url },
    fakeTiming: { textDeltas: 4, responseText: `Here it is: ${COMPLETION_SENTINEL}. Anything else?` },
  });
  await stack.waitReady();
});
afterAll(async () => {
  await stack?.stop();
  await receiver?.close();
});

/** Every secret of the stack and of this test's requests, by what it is. */
function secrets(extra: Record<string, string>): Record<string, string> {
  const found: Record<string, string> = {
    prompt: PROMPT_SENTINEL,
    system: SYSTEM_SENTINEL,
    completion: COMPLETION_SENTINEL,
    'a header value': HEADER_SENTINEL,
    'the session id header': SESSION_SENTINEL,
    'the admin token': stack.adminToken,
    'the metrics token': stack.metricsToken,
    ...extra,
  };
  for (const [id, node] of Object.entries(stack.nodes)) {
    found[`${id}'s node token`] = node.token;
    for (const name of ['CLAUDE_REFRESH_TOKEN', 'ANTHROPIC_API_KEY'])
      if (node.env[name] !== undefined) found[`${id}'s ${name}`] = node.env[name];
  }
  for (const account of stack.fake.accounts())
    if (account.apiKey !== undefined) found[`${account.id}'s API key`] = account.apiKey;
  // What the nodes actually sent upstream (access tokens after their login, API keys) and to the token endpoint.
  for (const r of stack.fake.requests) {
    if (r.accessToken !== undefined) found[`access token ${r.accessToken.slice(0, 16)}`] = r.accessToken;
    if (r.apiKey !== undefined) found[`API key ${r.apiKey.slice(0, 16)}`] = r.apiKey;
  }
  for (const t of stack.fake.tokenRequests)
    if (t.refreshToken !== undefined) found[`refresh token ${t.refreshToken.slice(0, 16)}`] = t.refreshToken;
  return found;
}

/** Which secrets appear anywhere in what the receiver got: every export body as sent (resources, scopes, spans,
 * attributes, events, links, status messages), and the decoded spans for good measure. */
function leaked(all: Record<string, string>): string[] {
  const everything = [
    ...receiver.exports().map((e) => e.body),
    JSON.stringify(receiver.spans(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
  ].join('\n');
  return Object.entries(all)
    .filter(([, value]) => everything.includes(value))
    .map(([what]) => what);
}

function post(key: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${stack.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: {
      'x-api-key': key,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'user-agent': 'tracing-test/1.0',
      'x-sentinel': HEADER_SENTINEL,
      'x-claude-code-session-id': SESSION_SENTINEL,
      ...headers,
    },
    body: JSON.stringify({
      model: MODEL,
      max_tokens: 64,
      stream: true,
      system: `You are terse. ${SYSTEM_SENTINEL}`,
      messages: [{ role: 'user', content: `Please repeat ${PROMPT_SENTINEL}` }],
    }),
  });
}

/** Drains or resumes a node, and waits until the gateway's registry (which its router reads) shows it. */
async function setDrained(nodeId: string, drained: boolean): Promise<void> {
  expect((await stack.admin('POST', `/nodes/${nodeId}/${drained ? 'drain' : 'resume'}`)).status).toBe(200);
  await waitFor(
    `${nodeId} ${drained ? 'drained' : 'resumed'} in the gateway's registry`,
    async () => {
      const { nodes } = (await (await stack.admin('GET', '/nodes')).json()) as {
        nodes: { nodeId: string; adminDrained: boolean }[];
      };
      return nodes.find((n) => n.nodeId === nodeId)?.adminDrained === drained;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
}

const one = (spans: ReceivedSpan[], what: string, pick: (s: ReceivedSpan) => boolean): ReceivedSpan => {
  const found = spans.filter(pick);
  if (found.length !== 1) throw new Error(`expected one ${what}, found ${found.length}`);
  return found[0]!;
};

describe('tracing across the fleet', () => {
  it('one streamed request with a failover is one trace under the client span, linked from its usage job', async () => {
    stack.fake.reset();
    const { key, id: keyId } = await stack.createKey();
    const clientTrace = hex(16);
    const clientSpan = hex(8);
    // The first node tried answers 529 (overloaded): the gateway moves on to the other before the first byte.
    stack.fake.inject({ kind: 'overloaded', times: 1 });

    // 1. The request, streamed, with the client's trace context.
    const res = await post(key, { traceparent: `00-${clientTrace}-${clientSpan}-01`, tracestate: 'client=1' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    expect(await res.text()).toContain('event: message_stop');
    const traceresponse = res.headers.get('traceresponse');
    expect(traceresponse).toMatch(new RegExp(`^00-${clientTrace}-[0-9a-f]{16}-01$`));

    // 2. Anthropic saw two attempts (the 529, then the answer) and no trace context in either.
    const upstream = stack.fake.requests.filter((r) => r.route === 'messages');
    expect(upstream.map((r) => r.status)).toEqual([529, 200]);
    for (const r of upstream) {
      expect(r.headers.traceparent).toBeUndefined();
      expect(r.headers.tracestate).toBeUndefined();
    }
    const answeredBy = upstream[1]!.accountId;
    const [answeringNode] = Object.entries(stack.nodes).find(([, n]) => n.accountId === answeredBy)!;
    const kindOf = (nodeId: string) => (stack.nodes[nodeId]!.env.ANTHROPIC_API_KEY === undefined ? 'oauth' : 'api_key');

    // 3. The request's spans at the receiver: the gateway's and both nodes'.
    const inTrace = (s: ReceivedSpan) => s.traceId === clientTrace;
    const count = (spans: ReceivedSpan[], service: string, name: string) =>
      spans.filter((s) => inTrace(s) && s.service === service && s.name === name).length;
    const trace = (
      await receiver.waitForSpans(
        (spans) =>
          ['POST /v1/messages', 'authenticate', 'limits', 'route', 'forward'].every(
            (n) => count(spans, 'switchyard-gateway', n) >= 1,
          ) &&
          count(spans, 'switchyard-gateway', 'tunnel hop') >= 2 &&
          count(spans, 'switchyard-node-agent', 'POST /v1/messages') >= 2 &&
          count(spans, 'switchyard-node-agent', `chat ${MODEL}`) >= 2,
        { what: "the gateway's and both nodes' spans of the request" },
      )
    ).filter(inTrace);
    const gw = trace.filter((s) => s.service === 'switchyard-gateway');
    const node = trace.filter((s) => s.service === 'switchyard-node-agent');

    // The gateway: its request span under the client's, the steps under it, the hops under forward.
    const server = one(gw, 'gateway server span', (s) => s.name === 'POST /v1/messages');
    expect(server).toMatchObject({ kind: 'SERVER', parentSpanId: clientSpan });
    expect(traceresponse).toBe(`00-${clientTrace}-${server.spanId}-01`);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'url.path': '/v1/messages',
      'http.response.status_code': 200,
      'user_agent.original': 'tracing-test/1.0',
      'switchyard.key_id': keyId,
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': MODEL,
      'gen_ai.request.max_tokens': 64,
      'switchyard.stream': true,
    });
    expect(server.attributes['http.route']).toBe('/v1/messages');
    const requestId = server.attributes['switchyard.request_id'];
    expect(requestId).toEqual(expect.any(String));
    for (const name of ['authenticate', 'limits', 'route', 'forward'])
      expect(one(gw, name, (s) => s.name === name)).toMatchObject({ kind: 'INTERNAL', parentSpanId: server.spanId });
    // Routing chose the node that met the 529 first (a new conversation: no sticky node yet), of two.
    const failedNode = answeringNode === 'node-a' ? 'node-b' : 'node-a';
    expect(one(gw, 'route', (s) => s.name === 'route').attributes).toMatchObject({
      'switchyard.routing.sticky': 'miss',
      'switchyard.node.id': failedNode,
      'switchyard.routing.candidates': 2,
    });
    const forward = one(gw, 'forward', (s) => s.name === 'forward');
    expect(forward.attributes['switchyard.node.id']).toBe(answeringNode);
    expect(forward.events.filter((e) => e.name === 'failover')).toEqual([
      {
        name: 'failover',
        attributes: expect.objectContaining({
          'switchyard.node.id': failedNode,
          'switchyard.failover.reason': 'overloaded',
        }) as unknown,
      },
    ]);
    const hops = gw.filter((s) => s.name === 'tunnel hop');
    for (const hop of hops) expect(hop).toMatchObject({ kind: 'CLIENT', parentSpanId: forward.spanId });
    const failedHop = one(hops, 'failed hop', (s) => s.attributes['switchyard.node.id'] === failedNode);
    // A client span: the 529 it was answered with makes it an error; the answered hop is none.
    expect(failedHop.attributes['http.response.status_code']).toBe(529);
    expect(failedHop.status.code).toBe('ERROR');
    const hop = one(hops, 'answered hop', (s) => s.attributes['switchyard.node.id'] === answeringNode);
    expect(hop.attributes).toMatchObject({ 'http.request.method': 'POST', 'http.response.status_code': 200 });
    expect(hop.status.code).toBe('UNSET');
    expect(hop.attributes['switchyard.ttfb_ms']).toEqual(expect.any(Number));
    expect(hop.events.map((e) => e.name)).toContain('first_byte');

    // The nodes: each request span under its own hop; the answering one's credential and chat spans.
    const nodeServer = one(node, 'answering node server span', (s) => s.parentSpanId === hop.spanId);
    expect(nodeServer).toMatchObject({ name: 'POST /v1/messages', kind: 'SERVER' });
    expect(nodeServer.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/messages',
      'url.path': '/v1/messages',
      'http.response.status_code': 200,
      'user_agent.original': 'tracing-test/1.0',
      'switchyard.request_id': expect.any(String) as unknown,
    });
    expect(node.filter((s) => s.parentSpanId === failedHop.spanId).map((s) => s.name)).toEqual(['POST /v1/messages']);
    const credential = one(node, 'credential', (s) => s.name === 'credential' && s.parentSpanId === nodeServer.spanId);
    expect(credential.kind).toBe('INTERNAL');
    expect(credential.attributes['switchyard.account.kind']).toBe(kindOf(answeringNode));
    const chat = one(node, 'chat', (s) => s.name === `chat ${MODEL}` && s.parentSpanId === nodeServer.spanId);
    expect(chat.kind).toBe('CLIENT');
    const fakeUrl = new URL(stack.fake.url);
    expect(chat.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': MODEL,
      'server.address': fakeUrl.hostname,
      'server.port': Number(fakeUrl.port),
      'http.request.method': 'POST',
      'http.response.status_code': 200,
    });
    expect(chat.attributes['switchyard.ttfb_ms']).toEqual(expect.any(Number));
    expect(chat.attributes['switchyard.first_text_delta_ms']).toEqual(expect.any(Number));
    expect(chat.events.map((e) => e.name)).toEqual(expect.arrayContaining(['first_byte', 'first_text_delta']));

    // 4. The worker: a consumer span of its own trace, linked to the gateway's request span, with the usage.
    const linked = (s: ReceivedSpan) =>
      s.service === 'switchyard-worker' && s.links.some((l) => l.traceId === clientTrace);
    const usage = one(
      await receiver.waitForSpans((spans) => spans.some(linked), {
        what: "the worker's span linked to the request's trace",
      }),
      'worker usage span',
      linked,
    );
    expect(usage).toMatchObject({ name: `usage ${String(requestId)}`, kind: 'CONSUMER' });
    expect(usage.links.map((l) => ({ traceId: l.traceId, spanId: l.spanId }))).toEqual([
      { traceId: clientTrace, spanId: server.spanId },
    ]);
    const reported = stack.fake.usageTotals();
    expect(usage.attributes).toMatchObject({
      'messaging.system': 'bullmq',
      'messaging.operation.type': 'process',
      'messaging.destination.name': 'usage',
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': MODEL,
      'switchyard.key_id': keyId,
      // All the input, the cached part included, as the GenAI conventions count it.
      'gen_ai.usage.input_tokens': reported.input + reported.cacheRead + reported.cacheCreation,
      'gen_ai.usage.output_tokens': reported.output,
      'gen_ai.usage.cache_read.input_tokens': 0,
      'gen_ai.usage.cache_creation.input_tokens': 0,
      'switchyard.request_id': requestId,
    });
    expect(usage.attributes['messaging.message.id']).toEqual(expect.any(String));

    // 5. Nothing secret, and not the conversation, in anything exported: spans, events, links, resources.
    expect(leaked(secrets({ 'the gateway key': key }))).toEqual([]);

    // 6. The request's log lines name its trace: the gateway's request line, the node's access line, the worker's
    //    job line (a debug line: the worker runs at LOG_LEVEL=debug here).
    const logged = (svc: { output(): string }, message: string) =>
      svc
        .output()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as { message?: string; traceId?: string })
        .some((l) => l.message === message && l.traceId === clientTrace);
    await waitFor(
      "the gateway's, the answering node's and the worker's log lines with the trace id",
      () =>
        logged(stack.gateway, 'request') &&
        logged(stack.nodes[answeringNode]!.svc, 'request done') &&
        logged(stack.worker!, 'usage job handled'),
      {
        timeoutMs: 30_000,
        intervalMs: 100,
        detail: () =>
          [stack.gateway, stack.nodes[answeringNode]!.svc, stack.worker!]
            .map((svc) => `${svc.name}:\n${svc.tail(8).join('\n')}`)
            .join('\n'),
      },
    );
  });

  it('a token refreshed after a 401 shows as an oauth refresh under the credential span, and leaks no token', async () => {
    // node-a (OAuth) alone serves: node-b is drained for this test.
    await setDrained('node-b', true);
    try {
      stack.fake.reset();
      const { key } = await stack.createKey();
      // The access token node-a holds, seen on a first request, then expired: the next call gets a 401.
      const first = await post(key, {});
      expect(first.status).toBe(200);
      await first.text();
      const [seen] = stack.fake.requests.filter((r) => r.route === 'messages');
      expect(seen?.accountId).toBe('acct-node-a');
      stack.fake.expireAccessToken(seen!.accessToken!);

      const clientTrace = hex(16);
      const res = await post(key, { traceparent: `00-${clientTrace}-${hex(8)}-01` });
      expect(res.status).toBe(200);
      await res.text();
      expect(stack.fake.requests.filter((r) => r.route === 'messages').map((r) => r.status)).toEqual([200, 401, 200]);
      expect(stack.fake.tokenRequests.map((t) => t.outcome)).toEqual(['ok']);

      // Waited for in full: the refresh, the two chat calls and the gateway's span of the hop they hang under.
      const spans = await receiver.waitForSpans(
        (all) => {
          const trace = all.filter((s) => s.traceId === clientTrace);
          return (
            trace.some((s) => s.name === 'oauth refresh') &&
            trace.filter((s) => s.name === `chat ${MODEL}`).length === 2 &&
            trace.some((s) => s.name === 'tunnel hop')
          );
        },
        { what: 'the oauth refresh, the two chat calls and the tunnel hop of the request' },
      );
      const trace = spans.filter((s) => s.traceId === clientTrace);
      const byId = new Map(trace.map((s) => [s.spanId, s]));
      const refresh = trace.find((s) => s.name === 'oauth refresh')!;
      expect(refresh).toMatchObject({ service: 'switchyard-node-agent', kind: 'INTERNAL' });
      const credential = byId.get(refresh.parentSpanId ?? '');
      expect(credential).toMatchObject({ name: 'credential', attributes: { 'switchyard.account.kind': 'oauth' } });
      const nodeServer = byId.get(credential?.parentSpanId ?? '');
      expect(nodeServer).toMatchObject({ name: 'POST /v1/messages', service: 'switchyard-node-agent' });
      expect(byId.get(nodeServer?.parentSpanId ?? '')).toMatchObject({
        name: 'tunnel hop',
        service: 'switchyard-gateway',
      });
      // The chat call that met the 401 and the one replayed with the fresh token.
      const chats = trace.filter((s) => s.name === `chat ${MODEL}` && s.parentSpanId === nodeServer?.spanId);
      expect(chats.map((s) => [s.attributes['http.response.status_code'], s.status.code]).sort()).toEqual([
        [200, 'UNSET'],
        [401, 'ERROR'],
      ]);

      // The expired access token, the refresh token it was renewed with and the fresh one are among the secrets now.
      expect(leaked(secrets({ 'the gateway key': key }))).toEqual([]);
    } finally {
      await setDrained('node-b', false);
    }
  });

  it('a refusal names its trace, marks only a 5xx an error, and never exports the key it was given', async () => {
    // A 4xx: a key the gateway does not know (shaped like one, and as secret).
    const unknownKey = `sy-${hex(24)}`;
    const refusedTrace = hex(16);
    const refused = await post(unknownKey, { traceparent: `00-${refusedTrace}-${hex(8)}-01` });
    expect(refused.status).toBe(401);
    await refused.text();
    expect(refused.headers.get('traceresponse')).toMatch(new RegExp(`^00-${refusedTrace}-[0-9a-f]{16}-01$`));

    // A 5xx: no node to serve it, both drained.
    const { key } = await stack.createKey();
    const failedTrace = hex(16);
    let failedStatus: number;
    await Promise.all(['node-a', 'node-b'].map((id) => setDrained(id, true)));
    try {
      const failed = await post(key, { traceparent: `00-${failedTrace}-${hex(8)}-01` });
      failedStatus = failed.status;
      await failed.text();
      expect(failedStatus).toBeGreaterThanOrEqual(500);
      expect(failed.headers.get('traceresponse')).toMatch(new RegExp(`^00-${failedTrace}-[0-9a-f]{16}-01$`));
    } finally {
      await Promise.all(['node-a', 'node-b'].map((id) => setDrained(id, false)));
    }

    const serverOf = (spans: ReceivedSpan[], trace: string) =>
      spans.find((s) => s.traceId === trace && s.service === 'switchyard-gateway' && s.kind === 'SERVER');
    const spans = await receiver.waitForSpans((all) => !!serverOf(all, refusedTrace) && !!serverOf(all, failedTrace), {
      what: "the gateway's request spans of the two refusals",
    });
    const s401 = serverOf(spans, refusedTrace)!;
    expect(s401.attributes).toMatchObject({
      'http.response.status_code': 401,
      'error.type': expect.any(String) as unknown,
    });
    expect(s401.status.code).toBe('UNSET');
    const s5xx = serverOf(spans, failedTrace)!;
    expect(s5xx.attributes).toMatchObject({
      'http.response.status_code': failedStatus,
      'error.type': expect.any(String) as unknown,
    });
    expect(s5xx.status.code).toBe('ERROR');
    expect(leaked(secrets({ 'the unknown key presented': unknownKey, 'the gateway key': key }))).toEqual([]);
    // The gateway's refusal line names the trace.
    await waitFor(
      "the gateway's refusal line with the trace id",
      () => stack.gateway.output().includes(`"traceId":"${refusedTrace}"`),
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const line = stack.gateway
      .output()
      .split('\n')
      .find((l) => l.includes(`"traceId":"${refusedTrace}"`))!;
    expect(JSON.parse(line)).toMatchObject({ message: 'request refused', status: 401, traceId: refusedTrace });
  });

  it('a malformed traceparent is ignored: the request starts a trace of its own', async () => {
    const { key } = await stack.createKey();
    const bogusTrace = hex(16);
    // No trace-flags field: not a traceparent.
    const res = await post(key, { traceparent: `00-${bogusTrace}-${hex(8)}` });
    expect(res.status).toBe(200);
    await res.text();
    const [, traceId, spanId] = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/.exec(res.headers.get('traceresponse') ?? '')!;
    expect(traceId).not.toBe(bogusTrace);
    const [server] = await receiver
      .waitForSpans((all) => all.some((s) => s.spanId === spanId), {
        what: "the gateway's request span of the traceresponse",
      })
      .then((all) => all.filter((s) => s.spanId === spanId));
    expect(server).toMatchObject({ traceId, name: 'POST /v1/messages', kind: 'SERVER', parentSpanId: undefined });
  });
});
