// The gateway's spans for a request (docs/TRACING.md), from the whole app in process: a real tracer provider kept in
// memory, real tunnels to stand-in nodes, a real Redis. What a client, a node, the usage job and the log see of
// the trace, and that with tracing off nothing of it exists and the client's trace context passes on untouched.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { SpanKind, SpanStatusCode } from '@switchyard/shared';
import { waitFor, type ReadableSpan } from '@switchyard/testkit';
import { send, type ClientResponse } from '../proxy/test-harness.js';
import {
  registerTestTracing,
  startTracedGateway,
  type NodeBehaviour,
  type TestTracing,
  type TracedGateway,
} from './test-harness.js';

const MODEL = 'claude-sonnet-4-6';
// Sentinels: none of them may appear in any span.
const PROMPT = 'SENTINEL-PROMPT-never-in-a-span';
const CUSTOM_HEADER = 'SENTINEL-HEADER-never-in-a-span';
const CLIENT_TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const CLIENT_TRACEPARENT = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}-01`;
const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;
const USER_AGENT = 'claude-cli/2.1.0 (external, cli)';

const BODY = JSON.stringify({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: PROMPT }] });
const ANSWER = JSON.stringify({
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  model: MODEL,
  content: [{ type: 'text', text: 'hi' }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 5, output_tokens: 1 },
});

/** A node's answer: 200 with two set-cookie lines (and `extra` header lines). */
function answersOk(extra: string[] = []): NodeBehaviour {
  return (_req, res) => {
    res.writeHead(200, [
      'content-type',
      'application/json',
      'request-id',
      'req_upstream_1',
      'set-cookie',
      'a=1',
      'set-cookie',
      'b=2',
      ...extra,
      'content-length',
      String(Buffer.byteLength(ANSWER)),
    ]);
    res.end(ANSWER);
  };
}
/** A node that sends a traceresponse of its own: the gateway's replaces it. */
const NODE_TRACERESPONSE = `00-${'e'.repeat(32)}-${'e'.repeat(16)}-01`;

const overloaded = (res: ServerResponse): void => {
  const body = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}';
  res.writeHead(529, { 'content-type': 'application/json', 'content-length': String(body.length) }).end(body);
};

/** The first request any of the nodes sharing it gets is answered 529, every later one 200. */
function overloadedOnce(): NodeBehaviour {
  let first = true;
  return (req: IncomingMessage, res: ServerResponse) => {
    if (first) {
      first = false;
      return overloaded(res);
    }
    answersOk()(req, res);
  };
}

function headers(gw: TracedGateway, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'content-type': 'application/json',
    'anthropic-version': '2023-06-01',
    'x-api-key': gw.key,
    'user-agent': USER_AGENT,
    'x-custom-secret': CUSTOM_HEADER,
    ...extra,
  };
}

function post(gw: TracedGateway, extra: Record<string, string> = {}, path = '/v1/messages'): Promise<ClientResponse> {
  return send(gw.url, { path, headers: headers(gw, extra), body: BODY });
}

/** The finished spans of one trace, once its request span (and `also`, if named) ended. */
async function traceOf(traceId: string, also: string[] = []): Promise<ReadableSpan[]> {
  return waitFor(
    `the spans of trace ${traceId}`,
    () => {
      const spans = tracing.spans().filter((s) => s.spanContext().traceId === traceId);
      const names = new Set(spans.map((s) => s.name));
      return spans.some((s) => s.kind === SpanKind.SERVER) && also.every((n) => names.has(n)) ? spans : undefined;
    },
    20_000,
  );
}

function one(spans: ReadableSpan[], name: string): ReadableSpan {
  const found = spans.filter((s) => s.name === name);
  if (found.length !== 1) throw new Error(`expected one ${name} span, got ${found.length}`);
  return found[0] as ReadableSpan;
}

function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

function traceresponseOf(res: ClientResponse): RegExpExecArray {
  const value = res.headers.traceresponse;
  const m = typeof value === 'string' ? TRACEPARENT_RE.exec(value) : null;
  if (m === null) throw new Error(`no traceresponse header: ${JSON.stringify(value)}`);
  return m;
}

/** Every attribute and event attribute value of the spans, as strings. */
function everyValue(spans: ReadableSpan[]): string[] {
  const values: string[] = [];
  for (const s of spans) {
    values.push(s.name);
    for (const v of Object.values(s.attributes)) values.push(String(v));
    for (const e of s.events) for (const v of Object.values(e.attributes ?? {})) values.push(String(v));
  }
  return values;
}

let tracing: TestTracing;
let gw: TracedGateway | undefined;

beforeAll(() => {
  tracing = registerTestTracing();
});
afterAll(async () => {
  await tracing.stop();
});
beforeEach(() => tracing.exporter.reset());
afterEach(async () => {
  await gw?.stop();
  gw = undefined;
});

describe('tracing on', () => {
  it("makes one trace of a request: its span under the client's traceparent, a span per step, the hop the node hangs under", async () => {
    gw = await startTracedGateway({ tracing: true });
    const node = await gw.addNode('n1', answersOk(['traceresponse', NODE_TRACERESPONSE]));
    const res = await post(gw, { traceparent: CLIENT_TRACEPARENT, tracestate: 'client=1' });
    expect(res.status).toBe(200);

    const spans = await traceOf(CLIENT_TRACE_ID, ['forward', 'tunnel hop']);
    const server = one(spans, 'POST /v1/messages');
    expect(server.kind).toBe(SpanKind.SERVER);
    expect(parentOf(server)).toBe(CLIENT_SPAN_ID);
    const serverId = server.spanContext().spanId;
    expect(server.attributes).toEqual({
      'http.request.method': 'POST',
      'http.route': '/v1/messages',
      'url.path': '/v1/messages',
      'http.response.status_code': 200,
      'user_agent.original': USER_AGENT,
      'switchyard.request_id': expect.stringMatching(/^req_/) as unknown,
      'switchyard.key_id': gw.keyId,
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'anthropic',
      'gen_ai.request.model': MODEL,
      'gen_ai.request.max_tokens': 64,
      'switchyard.stream': false,
    });
    expect(server.status.code).toBe(SpanStatusCode.UNSET);

    // The steps, in order, each a child of the request's span.
    const steps = ['authenticate', 'limits', 'route', 'forward'].map((name) => one(spans, name));
    for (const step of steps) {
      expect([step.name, step.kind, parentOf(step)]).toEqual([step.name, SpanKind.INTERNAL, serverId]);
    }
    const [, , route, forward] = steps as [ReadableSpan, ReadableSpan, ReadableSpan, ReadableSpan];
    expect(route.attributes).toEqual({
      'switchyard.routing.sticky': 'miss',
      'switchyard.node.id': 'n1',
      'switchyard.routing.candidates': 1,
    });
    expect(forward.attributes).toEqual({ 'switchyard.node.id': 'n1' });
    expect(forward.events).toEqual([]);

    const hop = one(spans, 'tunnel hop');
    expect([hop.kind, parentOf(hop)]).toEqual([SpanKind.CLIENT, forward.spanContext().spanId]);
    expect(hop.attributes).toMatchObject({
      'switchyard.node.id': 'n1',
      'http.request.method': 'POST',
      'http.response.status_code': 200,
    });
    expect(hop.attributes['switchyard.ttfb_ms']).toEqual(expect.any(Number));
    expect(hop.events.map((e) => e.name)).toEqual(['first_byte']);

    // The node gets the hop's traceparent in place of the client's (its spans hang under the hop); the client's
    // tracestate (free text) is dropped: not on any span, not sent on.
    expect(node.seen[0]?.headers.traceparent).toBe(`00-${CLIENT_TRACE_ID}-${hop.spanContext().spanId}-01`);
    expect(node.seen[0]?.headers.tracestate).toBeUndefined();
    expect(spans.map((s) => s.spanContext().traceState?.serialize())).toEqual(spans.map(() => undefined));

    // The client's traceresponse names the request's span, replacing the node's; the node's headers pass as they
    // were, the repeated ones included.
    expect(res.headers.traceresponse).toBe(`00-${CLIENT_TRACE_ID}-${serverId}-01`);
    expect(res.headers['set-cookie']).toEqual(['a=1', 'b=2']);
    expect(res.headers['request-id']).toBe('req_upstream_1');

    // The usage job links to the request's span; the log line names the trace.
    await waitFor('the usage draft', () => gw?.drafts.length === 1);
    expect(gw.drafts[0]?.traceparent).toBe(res.headers.traceresponse);
    const line = gw.log.find((l) => l.message === 'request');
    expect(line?.meta.traceId).toBe(CLIENT_TRACE_ID);

    // Never the prompt, the gateway key or a header's value other than the user agent.
    const values = everyValue(spans).join('\n');
    for (const secret of [PROMPT, gw.key, CUSTOM_HEADER, 'client=1', '2023-06-01', 'application/json'])
      expect(values).not.toContain(secret);
  });

  it('starts a trace of its own when the client sends no traceparent, or a malformed one', async () => {
    gw = await startTracedGateway({ tracing: true });
    const node = await gw.addNode('n1', answersOk());
    const malformed = `00-${CLIENT_TRACE_ID}-${CLIENT_SPAN_ID}`;
    for (const extra of [{}, { traceparent: malformed }] as Record<string, string>[]) {
      const res = await post(gw, extra);
      expect(res.status).toBe(200);
      const [, traceId, spanId] = traceresponseOf(res);
      expect(traceId).not.toBe(CLIENT_TRACE_ID);
      const server = one(await traceOf(traceId as string), 'POST /v1/messages');
      expect([server.spanContext().spanId, parentOf(server)]).toEqual([spanId, undefined]);
    }
    expect(node.seen.map((s) => TRACEPARENT_RE.exec(String(s.headers.traceparent))?.[1])).toEqual([
      expect.any(String),
      expect.any(String),
    ]);
  });

  it('fails over under one forward span: a failover event, a hop per attempt, each node given its own hop as parent', async () => {
    gw = await startTracedGateway({ tracing: true });
    const behaviour = overloadedOnce();
    const nodes = [await gw.addNode('n1', behaviour), await gw.addNode('n2', behaviour)];
    const res = await post(gw, { traceparent: CLIENT_TRACEPARENT });
    expect(res.status).toBe(200);

    const spans = await traceOf(CLIENT_TRACE_ID, ['forward']);
    const forward = one(spans, 'forward');
    const hops = spans
      .filter((s) => s.name === 'tunnel hop')
      .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
    expect(hops).toHaveLength(2);
    const [refused, answered] = hops as [ReadableSpan, ReadableSpan];
    const refusedBy = String(refused.attributes['switchyard.node.id']);
    const answeredBy = String(answered.attributes['switchyard.node.id']);
    expect(new Set([refusedBy, answeredBy])).toEqual(new Set(['n1', 'n2']));
    for (const hop of hops) expect(parentOf(hop)).toBe(forward.spanContext().spanId);
    expect(refused.attributes['http.response.status_code']).toBe(529);
    expect(refused.status.code).toBe(SpanStatusCode.ERROR);
    expect(refused.events).toEqual([]);
    expect(answered.attributes['http.response.status_code']).toBe(200);
    expect(answered.events.map((e) => e.name)).toEqual(['first_byte']);

    expect(forward.events.map((e) => [e.name, e.attributes])).toEqual([
      ['failover', { 'switchyard.node.id': refusedBy, 'switchyard.failover.reason': 'overloaded' }],
    ]);
    expect(forward.attributes['switchyard.node.id']).toBe(answeredBy);

    // Each node got the traceparent of the hop that asked it: two attempts, two parents.
    for (const hop of hops) {
      const node = nodes.find((n) => n.nodeId === hop.attributes['switchyard.node.id']);
      expect(node?.seen.map((s) => s.headers.traceparent)).toEqual([
        `00-${CLIENT_TRACE_ID}-${hop.spanContext().spanId}-01`,
      ]);
    }
    expect(gw.log.find((l) => l.message === 'request')?.meta).toMatchObject({ failovers: 1, traceId: CLIENT_TRACE_ID });
  });

  it("answers a refusal with traceresponse: its code in error.type, the span's status an error only for a 5xx", async () => {
    gw = await startTracedGateway({ tracing: true });
    // A key that is not one: 401 from the first step.
    const unknown = await send(gw.url, {
      path: '/v1/messages',
      headers: { ...headers(gw), 'x-api-key': `${gw.key.slice(0, -1)}${gw.key.endsWith('a') ? 'b' : 'a'}` },
      body: BODY,
    });
    expect(unknown.status).toBe(401);
    const [, traceId401, spanId401] = traceresponseOf(unknown);
    const spans401 = await traceOf(traceId401 as string);
    const server401 = one(spans401, 'POST /v1/messages');
    expect(server401.spanContext().spanId).toBe(spanId401);
    expect(server401.attributes).toMatchObject({
      'http.response.status_code': 401,
      'error.type': expect.any(String) as unknown,
    });
    expect(server401.attributes['switchyard.key_id']).toBeUndefined();
    expect(server401.status.code).toBe(SpanStatusCode.UNSET);
    const authenticate = one(spans401, 'authenticate');
    expect(authenticate.attributes['error.type']).toBe(server401.attributes['error.type']);
    expect(spans401.map((s) => s.name).sort()).toEqual(['POST /v1/messages', 'authenticate']);
    const refusedLine = gw.log.find((l) => l.message === 'request refused');
    expect(refusedLine?.meta).toMatchObject({ status: 401, traceId: traceId401 });

    // No node at all: the route step refuses with a 5xx.
    const noNode = await post(gw, { traceparent: CLIENT_TRACEPARENT });
    expect(noNode.status).toBeGreaterThanOrEqual(500);
    const [, traceId5xx, spanId5xx] = traceresponseOf(noNode);
    expect(traceId5xx).toBe(CLIENT_TRACE_ID);
    const spans5xx = await traceOf(CLIENT_TRACE_ID);
    const server5xx = one(spans5xx, 'POST /v1/messages');
    expect(server5xx.spanContext().spanId).toBe(spanId5xx);
    expect(server5xx.status.code).toBe(SpanStatusCode.ERROR);
    expect(server5xx.attributes['http.response.status_code']).toBe(noNode.status);
    const route = one(spans5xx, 'route');
    expect([route.status.code, route.attributes['error.type']]).toEqual([
      SpanStatusCode.ERROR,
      server5xx.attributes['error.type'],
    ]);
    expect(spans5xx.some((s) => s.name === 'forward')).toBe(false);
  });

  it('answers with traceresponse when no node can be reached (the forwarder answers, not the node)', async () => {
    gw = await startTracedGateway({ tracing: true });
    // The node refuses its tunnel's request streams: the forwarder answers 502 itself.
    await gw.addNode('n1', answersOk(), 503);
    const res = await post(gw, { traceparent: CLIENT_TRACEPARENT });
    expect(res.status).toBeGreaterThanOrEqual(500);
    expect(traceresponseOf(res)[1]).toBe(CLIENT_TRACE_ID);
    const spans = await traceOf(CLIENT_TRACE_ID, ['forward', 'tunnel hop']);
    const hop = one(spans, 'tunnel hop');
    expect(hop.status.code).toBe(SpanStatusCode.ERROR);
    expect(hop.attributes['error.type']).toEqual(expect.any(String));
    expect(one(spans, 'forward').attributes['error.type']).toEqual(expect.stringMatching(/^upstream_/));
    expect(one(spans, 'POST /v1/messages').status.code).toBe(SpanStatusCode.ERROR);
  });

  it('marks the hop an error when the answer breaks off after its head (the client gets a terminal SSE error)', async () => {
    gw = await startTracedGateway({ tracing: true });
    await gw.addNode('n1', (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: ping\ndata: {"type": "ping"}\n\n', () => res.destroy());
    });
    const res = await post(gw, { traceparent: CLIENT_TRACEPARENT });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toContain('event: error');
    const spans = await traceOf(CLIENT_TRACE_ID, ['tunnel hop']);
    const hop = one(spans, 'tunnel hop');
    expect([hop.status.code, hop.attributes['error.type']]).toEqual([SpanStatusCode.ERROR, 'incomplete_response']);
  });

  it('traces the Chat Completions route under its own name, its translated answer carrying traceresponse', async () => {
    gw = await startTracedGateway({ tracing: true });
    await gw.addNode('n1', answersOk());
    const res = await send(gw.url, {
      path: '/v1/chat/completions',
      headers: { ...headers(gw), traceparent: CLIENT_TRACEPARENT },
      body: JSON.stringify({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: PROMPT }] }),
    });
    expect(res.status).toBe(200);
    const spans = await traceOf(CLIENT_TRACE_ID, ['tunnel hop']);
    const server = one(spans, 'POST /v1/chat/completions');
    expect(res.headers.traceresponse).toBe(`00-${CLIENT_TRACE_ID}-${server.spanContext().spanId}-01`);
    expect(server.attributes).toMatchObject({ 'http.route': '/v1/chat/completions', 'gen_ai.operation.name': 'chat' });
    expect(everyValue(spans).join('\n')).not.toContain(PROMPT);
  });

  // The two other API routes (docs/TRACING.md: the same spans as /v1/messages, without gen_ai.*).
  it.each([
    {
      label: 'count_tokens',
      method: 'POST',
      path: '/v1/messages/count_tokens',
      route: '/v1/messages/count_tokens',
      name: 'POST /v1/messages/count_tokens',
      answer: JSON.stringify({ input_tokens: 12 }),
      // The body was read: whether it streams is on the span, what it asks of a model (gen_ai.*) is not.
      more: { 'switchyard.stream': false },
    },
    {
      label: 'the models list',
      method: 'GET',
      path: '/v1/models?limit=20',
      route: '/v1/models',
      name: 'GET /v1/models',
      answer: JSON.stringify({
        data: [{ type: 'model', id: MODEL, display_name: 'Claude Sonnet 4.6', created_at: '2026-02-17T00:00:00Z' }],
        has_more: false,
        first_id: MODEL,
        last_id: MODEL,
      }),
      more: {},
    },
  ])(
    "traces $label as $name: one request span under the client's traceparent, its HTTP attributes, traceresponse naming it",
    async ({ method, path, route, name, answer, more }) => {
      gw = await startTracedGateway({ tracing: true });
      const node = await gw.addNode('n1', (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(answer)) });
        res.end(answer);
      });
      const res = await send(gw.url, {
        method,
        path,
        headers: { ...headers(gw), traceparent: CLIENT_TRACEPARENT },
        ...(method === 'GET' ? {} : { body: BODY }),
      });
      expect(res.status).toBe(200);

      const spans = await traceOf(CLIENT_TRACE_ID, ['tunnel hop']);
      const servers = spans.filter((s) => s.kind === SpanKind.SERVER);
      expect(servers.map((s) => s.name)).toEqual([name]);
      const server = one(spans, name);
      expect(parentOf(server)).toBe(CLIENT_SPAN_ID);
      const serverId = server.spanContext().spanId;
      expect(res.headers.traceresponse).toBe(`00-${CLIENT_TRACE_ID}-${serverId}-01`);
      expect(server.attributes).toEqual({
        'http.request.method': method,
        'http.route': route,
        // The path without its query.
        'url.path': route,
        'http.response.status_code': 200,
        'user_agent.original': USER_AGENT,
        'switchyard.request_id': expect.stringMatching(/^req_/) as unknown,
        'switchyard.key_id': gw.keyId,
        ...more,
      });
      expect(server.status.code).toBe(SpanStatusCode.UNSET);
      // The same steps as /v1/messages, and the node's spans hang under the hop that asked it.
      for (const step of ['authenticate', 'limits', 'route', 'forward'])
        expect(parentOf(one(spans, step))).toBe(serverId);
      const hop = one(spans, 'tunnel hop');
      expect(node.seen.map((s) => s.headers.traceparent)).toEqual([
        `00-${CLIENT_TRACE_ID}-${hop.spanContext().spanId}-01`,
      ]);
      // Neither route is usage: no draft, so no link from a usage job.
      expect(gw.drafts).toEqual([]);
      // count_tokens carries the prompt in its body; /v1/models sends none, so there is nothing to check there.
      if (method !== 'GET') expect(everyValue(spans).join('\n')).not.toContain(PROMPT);

      // The gateway's own refusal on the route (a key that is not one) carries traceresponse too, naming its span.
      const refused = await send(gw.url, {
        method,
        path,
        headers: { ...headers(gw), 'x-api-key': 'sk-not-a-key' },
        ...(method === 'GET' ? {} : { body: BODY }),
      });
      expect(refused.status).toBe(401);
      const [, traceId401, spanId401] = traceresponseOf(refused);
      const server401 = one(await traceOf(traceId401 as string), name);
      expect(server401.spanContext().spanId).toBe(spanId401);
      expect(server401.attributes).toMatchObject({ 'http.route': route, 'http.response.status_code': 401 });
    },
  );
});

describe('tracing off', () => {
  it("makes no span, sends no traceresponse, and passes the client's trace context to the node unchanged", async () => {
    gw = await startTracedGateway({ tracing: false });
    const node = await gw.addNode('n1', answersOk());
    const res = await post(gw, { traceparent: CLIENT_TRACEPARENT, tracestate: 'client=1' });
    expect(res.status).toBe(200);
    expect(res.headers.traceresponse).toBeUndefined();
    expect(node.seen[0]?.headers.traceparent).toBe(CLIENT_TRACEPARENT);
    expect(node.seen[0]?.headers.tracestate).toBe('client=1');

    const refused = await send(gw.url, { path: '/v1/messages', headers: { 'x-api-key': 'nope' }, body: BODY });
    expect(refused.status).toBe(401);
    expect(refused.headers.traceresponse).toBeUndefined();

    await waitFor('the usage draft', () => gw?.drafts.length === 1);
    expect(gw.drafts[0]?.traceparent).toBeUndefined();
    for (const message of ['request', 'request refused']) {
      const line = gw.log.find((l) => l.message === message);
      expect([message, line === undefined, line?.meta.traceId]).toEqual([message, false, undefined]);
    }
    // A provider is registered in this process, and still nothing was made.
    expect(tracing.spans()).toEqual([]);
  });
});
