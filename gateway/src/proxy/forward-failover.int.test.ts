import { createFakeAnthropic, fakeMessagesBody, type FakeAnthropic, waitFor } from '@switchyard/testkit';
import {
  answer,
  forwardTo,
  nodeView,
  send,
  startStandInNode,
  startTestGateway,
  type Behaviour,
  type Reports,
  type StandInNode,
  type TestGateway,
} from './test-harness.js';
import type { NodeView } from '../routing/index.js';
import type { Forwarder } from './types.js';

const MODEL = 'claude-sonnet-4-6';
const HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
const BODY = JSON.stringify(fakeMessagesBody());

const overloaded = answer(
  529,
  { 'content-type': 'application/json', 'request-id': 'req_node_overloaded' },
  '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
);
const headersTimedOut = answer(
  504,
  { 'content-type': 'application/json', 'request-id': 'req_node_timeout' },
  '{"type":"error","error":{"type":"timeout_error","message":"Anthropic sent no response within 600 s; the request may have been processed."}}',
);
const serverError = answer(
  500,
  { 'content-type': 'application/json' },
  '{"type":"error","error":{"type":"api_error","message":"Internal server error"}}',
);
function rateLimited(label: string): Behaviour {
  const reset = String(Math.floor(Date.now() / 1000) + 3600);
  return answer(
    429,
    {
      'content-type': 'application/json',
      'request-id': `req_${label}`,
      'retry-after': '120',
      'x-should-retry': 'true',
      'anthropic-ratelimit-unified-status': 'rejected',
      'anthropic-ratelimit-unified-5h-status': 'rejected',
      'anthropic-ratelimit-unified-5h-reset': reset,
      'anthropic-ratelimit-unified-5h-utilization': '1.02',
      'anthropic-ratelimit-unified-reset': reset,
      'anthropic-ratelimit-unified-representative-claim': 'five_hour',
    },
    `{"type":"error","error":{"type":"rate_limit_error","message":"This request would exceed your account's rate limit (${label})."}}`,
  );
}

let fake: FakeAnthropic;
let apiKey: string;
let cleanups: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'api-1', kind: 'api_key' }] });
  await fake.start();
  apiKey = fake.account('api-1').apiKey ?? '';
});
afterAll(async () => {
  await fake.stop();
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** Nodes in candidate order; 'closed' is a node the routing still lists but that has no tunnel to this gateway. */
async function fleet(
  specs: [string, Behaviour | 'closed'][],
): Promise<{ gw: TestGateway; forwarder: Forwarder; reports: Reports; nodes: Map<string, StandInNode> }> {
  const nodes = new Map<string, StandInNode>();
  const views: NodeView[] = [];
  const gw = await startTestGateway({ candidates: () => views, model: MODEL });
  cleanups.push(() => gw.stop());
  for (const [id, spec] of specs) {
    if (spec === 'closed') {
      views.push(nodeView(id));
      continue;
    }
    const node = await startStandInNode(gw, id, spec);
    cleanups.push(() => node.stop());
    nodes.set(id, node);
    views.push(node.view);
  }
  return { gw, forwarder: gw.forwarder, reports: gw.reports, nodes };
}

function seenCount(nodes: Map<string, StandInNode>, id: string): number {
  return nodes.get(id)?.seen.length ?? 0;
}

describe('failover before the first byte', () => {
  it('moves on from a node answering 529 and reports both answers', async () => {
    const { gw, forwarder, reports, nodes } = await fleet([
      ['a', overloaded],
      ['b', forwardTo(fake.url, apiKey)],
    ]);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toMatchObject({ type: 'message', role: 'assistant' });
    expect(reports.responses.map((r) => [r.nodeId, r.status, r.model])).toEqual([
      ['a', 529, MODEL],
      ['b', 200, MODEL],
    ]);
    expect(gw.outcomes[0]).toMatchObject({
      nodeId: 'b',
      status: 200,
      failovers: 1,
      aborted: false,
      brokeMidStream: false,
    });
    expect(nodes.get('a')?.seen[0]?.body.toString()).toBe(BODY);
    expect(forwarder.inFlight('a') + forwarder.inFlight('b')).toBe(0);
    // The refused answer's stream is gone; the tunnel stays for the next request.
    await waitFor("node a's connections closed", () => nodes.get('a')?.connections() === 0);
    expect(gw.hub.agentFor('a')).toBeDefined();
  });

  it('never moves on from a 504 (the request may be running upstream): the client gets it as the node sent it', async () => {
    const { gw, nodes } = await fleet([
      ['a', headersTimedOut],
      ['b', forwardTo(fake.url, apiKey)],
    ]);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body.toString())).toMatchObject({ type: 'error', error: { type: 'timeout_error' } });
    expect(seenCount(nodes, 'b')).toBe(0);
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'a', status: 504, failovers: 0 });
  });

  it('moves on from a node without a tunnel here and reports it unreachable', async () => {
    const { gw, reports, forwarder } = await fleet([
      ['down', 'closed'],
      ['b', forwardTo(fake.url, apiKey)],
    ]);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(200);
    expect(reports.unreachable).toEqual(['down']);
    expect(reports.responses.map((r) => r.nodeId)).toEqual(['b']);
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'b', status: 200, failovers: 1 });
    expect(forwarder.inFlight('down')).toBe(0);
  });

  it('moves on from a rate-limited account and hands its headers to the registry', async () => {
    const { gw, reports } = await fleet([
      ['limited', rateLimited('limited')],
      ['b', forwardTo(fake.url, apiKey)],
    ]);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(200);
    const first = reports.responses[0];
    expect(first).toMatchObject({ nodeId: 'limited', status: 429, model: MODEL });
    expect(first?.headers['anthropic-ratelimit-unified-status']).toBe('rejected');
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'b', failovers: 1 });
  });

  it('tries at most two more nodes, then passes the last answer through unchanged', async () => {
    const lastBody = '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}';
    const { gw, reports, nodes } = await fleet([
      ['a', overloaded],
      ['b', serverError],
      ['c', overloaded],
      ['d', forwardTo(fake.url, apiKey)],
    ]);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(529);
    expect(res.body.toString()).toBe(lastBody);
    expect(res.headers['request-id']).toBe('req_node_overloaded');
    expect(reports.responses.map((r) => [r.nodeId, r.status])).toEqual([
      ['a', 529],
      ['b', 500],
      ['c', 529],
    ]);
    expect(seenCount(nodes, 'd')).toBe(0);
    expect(gw.outcomes[0]).toMatchObject({
      nodeId: 'c',
      status: 529,
      failovers: 2,
      upstreamRequestId: 'req_node_overloaded',
    });
  });

  it("passes the last node's 429 through with retry-after and its rate-limit headers", async () => {
    const { gw, nodes } = await fleet([
      ['a', rateLimited('a')],
      ['b', rateLimited('b')],
    ]);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(429);
    expect(res.body.equals(Buffer.concat(nodes.get('b')?.seen[0]?.sent ?? []))).toBe(true);
    expect(res.headers['retry-after']).toBe('120');
    expect(res.headers['x-should-retry']).toBe('true');
    expect(res.headers['anthropic-ratelimit-unified-5h-status']).toBe('rejected');
    expect(res.headers['request-id']).toBe('req_b');
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'b', status: 429, failovers: 1 });
  });

  it('answers 502 in the envelope, with the request id, when no node can be reached', async () => {
    const { gw, reports } = await fleet([
      ['x', 'closed'],
      ['y', 'closed'],
    ]);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(502);
    const requestId = gw.jobs[0]?.requestId;
    expect(res.headers['request-id']).toBe(requestId);
    expect(JSON.parse(res.body.toString())).toMatchObject({
      type: 'error',
      error: { type: 'api_error' },
      request_id: requestId,
    });
    expect(reports.unreachable).toEqual(['x', 'y']);
    expect(gw.outcomes[0]).toMatchObject({ status: 502, failovers: 1 });
  });

  it('adds a request-id when the node sent none', async () => {
    const { gw } = await fleet([['a', serverError]]);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(500);
    expect(res.headers['request-id']).toBe(gw.jobs[0]?.requestId);
  });

  it('moves on from a node that refuses the tunnel stream (as from a refused connection)', async () => {
    const views: NodeView[] = [];
    const gw = await startTestGateway({ candidates: () => views, model: MODEL });
    cleanups.push(() => gw.stop());
    const refusing = await startStandInNode(gw, 'refusing', answer(200, {}, '{}'), { connectionStatus: 503 });
    cleanups.push(() => refusing.stop());
    const b = await startStandInNode(gw, 'b', forwardTo(fake.url, apiKey));
    cleanups.push(() => b.stop());
    views.push(refusing.view, b.view);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(200);
    expect(gw.reports.unreachable).toEqual(['refusing']);
    expect(refusing.seen).toEqual([]);
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'b', status: 200, failovers: 1 });
  });

  it('moves on from a node whose tunnel dropped before the request started', async () => {
    const { gw, reports, nodes } = await fleet([
      ['dropped', answer(200, {}, '{}')],
      ['b', forwardTo(fake.url, apiKey)],
    ]);
    nodes.get('dropped')?.peer.destroy();
    await waitFor('the dropped node gone from the hub', () => gw.hub.agentFor('dropped') === undefined);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(200);
    expect(reports.unreachable).toEqual(['dropped']);
    expect(nodes.get('dropped')?.seen).toEqual([]);
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'b', status: 200, failovers: 1 });
  });
});
