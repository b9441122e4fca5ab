import { request, type ClientRequest, type IncomingMessage } from 'node:http';
import {
  createFakeAnthropic,
  fakeMessagesBody,
  parseSseFrames,
  type FakeAnthropic,
  waitFor,
} from '@switchyard/testkit';
import { sseErrorFrame } from '@switchyard/shared';
import { lastFrameEnd } from './relay-body.js';
import {
  answer,
  forwardTo,
  send,
  startStandInNode,
  startTestGateway,
  type Behaviour,
  type StandInNode,
  type TestGateway,
} from './test-harness.js';
import type { Forwarder } from './types.js';
const HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
const STREAM_BODY = JSON.stringify(
  fakeMessagesBody({
    stream: true,
    thinking: { type: 'adaptive' },
    tools: [
      {
        name: 'get_weather',
        description: 'Weather for a city',
        input_schema: { type: 'object', properties: { city: { type: 'string' } } },
      },
    ],
    tool_choice: { type: 'any' },
  }),
);
// Abort teardown times (ms), printed once for the report.
const measured: string[] = [];

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
  if (measured.length > 0) console.log(`abort teardown: ${measured.join('; ')}`);
});
afterEach(async () => {
  fake.setTiming({ deltaIntervalMs: 0, textDeltas: 3, firstByteDelayMs: 0 });
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

async function setup(
  behaviours: [string, Behaviour][],
): Promise<{ gw: TestGateway; forwarder: Forwarder; nodes: StandInNode[] }> {
  const nodes: StandInNode[] = [];
  const gw = await startTestGateway({ candidates: () => nodes.map((n) => n.view), stream: true });
  cleanups.push(() => gw.stop());
  for (const [id, b] of behaviours) {
    const node = await startStandInNode(gw, id, b);
    cleanups.push(() => node.stop());
    nodes.push(node);
  }
  return { gw, forwarder: gw.forwarder, nodes };
}

/** Streams the gateway's agent for the node holds for requests in progress. */
function agentStreams(gw: TestGateway, nodeId: string): number {
  let n = 0;
  for (const list of Object.values(gw.hub.agentFor(nodeId)?.sockets ?? {})) n += list?.length ?? 0;
  return n;
}

/** Opens a streaming request and resolves once the first body bytes arrived. */
function openStream(url: string): Promise<{ req: ClientRequest; res: IncomingMessage; first: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/messages?beta=true`, { method: 'POST', headers: HEADERS, agent: false }, (res) => {
      res.once('data', (first: Buffer) => resolve({ req, res, first }));
    });
    req.on('error', () => {});
    req.once('response', (res) => res.on('error', () => {}));
    req.setTimeout(5000, () => reject(new Error('no first byte')));
    req.end(STREAM_BODY);
  });
}

function sent(node: StandInNode | undefined, i = 0): Buffer {
  return Buffer.concat(node?.seen[i]?.sent ?? []);
}

describe('streaming through the forwarder', () => {
  it('delivers a thinking + text + tool_use stream with the node’s exact bytes and frame count', async () => {
    fake.setTiming({ textDeltas: 6 });
    const { gw, nodes, forwarder } = await setup([['a', forwardTo(fake.url, apiKey)]]);
    const res = await send(gw.url, { headers: HEADERS, body: STREAM_BODY });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/event-stream/);
    const nodeBytes = sent(nodes[0]);
    expect(res.body.equals(nodeBytes)).toBe(true);
    const frames = parseSseFrames(res.body.toString());
    expect(frames.length).toBe(parseSseFrames(nodeBytes.toString()).length);
    const deltas = new Set(
      frames
        .filter((f) => f.event === 'content_block_delta')
        .map((f) => (JSON.parse(f.data) as { delta: { type: string } }).delta.type),
    );
    expect([...deltas].sort()).toEqual(['input_json_delta', 'signature_delta', 'text_delta', 'thinking_delta']);
    expect(frames.at(-1)?.event).toBe('message_stop');
    expect(res.headers['request-id']).toMatch(/^req_/);
    expect(gw.outcomes[0]).toMatchObject({
      nodeId: 'a',
      status: 200,
      failovers: 0,
      brokeMidStream: false,
      aborted: false,
      upstreamRequestId: res.headers['request-id'],
    });
    expect(gw.outcomes[0]?.ttfbMs).toBeGreaterThan(0);
    expect(forwarder.inFlight('a')).toBe(0);
  });

  it('hands the client whole frames when the node splits them across writes (same bytes, no stall)', async () => {
    const frames = [
      'event: message_start\ndata: {"type":"message_start"}\n\n',
      'event: ping\ndata: {"type":"ping"}\n\n',
      'event: message_stop\ndata: {"type":"message_stop"}\n\n',
    ];
    const splitting: Behaviour = (_req, res, seen) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const pieces = frames.flatMap((f) => [f.slice(0, 11), f.slice(11, 30), f.slice(30)]);
      const next = (): void => {
        const piece = pieces.shift();
        if (piece === undefined) return void res.end();
        seen.sent.push(Buffer.from(piece));
        res.write(piece);
        setTimeout(next, 5);
      };
      next();
    };
    const { gw } = await setup([['a', splitting]]);
    const { res, first } = await openStream(gw.url);
    const chunks = [first];
    res.on('data', (c: Buffer) => chunks.push(c));
    await new Promise((r) => res.once('end', r));
    expect(Buffer.concat(chunks).toString()).toBe(frames.join(''));
    for (const c of chunks) expect(lastFrameEnd(c)).toBe(c.length);
    expect(chunks.length).toBeGreaterThanOrEqual(frames.length);
    expect(gw.outcomes[0]).toMatchObject({ status: 200, brokeMidStream: false });
  });

  it('never retries after the first byte: a break mid-frame ends the client’s stream with a terminal error event', async () => {
    const { gw, nodes } = await setup([
      ['a', forwardTo(fake.url, apiKey, { breakAfterBytes: 700 })],
      ['b', forwardTo(fake.url, apiKey)],
    ]);
    const res = await send(gw.url, { headers: HEADERS, body: STREAM_BODY });
    const nodeBytes = sent(nodes[0]);
    expect(nodeBytes.toString().endsWith('\n\n')).toBe(false); // the break tore a frame
    const requestId = gw.jobs[0]?.requestId ?? '';
    const whole = nodeBytes.subarray(0, lastFrameEnd(nodeBytes));
    expect(res.body.toString()).toBe(
      whole.toString() +
        sseErrorFrame('api_error', 'The stream from the upstream node broke off before its end', requestId),
    );
    const frames = parseSseFrames(res.body.toString());
    for (const f of frames) expect(() => JSON.parse(f.data) as unknown).not.toThrow();
    const last = frames.at(-1);
    expect(last?.event).toBe('error');
    expect(JSON.parse(last?.data ?? '')).toMatchObject({
      type: 'error',
      error: { type: 'api_error' },
      request_id: requestId,
    });
    expect(nodes[1]?.seen.length).toBe(0);
    expect(gw.outcomes[0]).toMatchObject({
      nodeId: 'a',
      status: 200,
      failovers: 0,
      brokeMidStream: true,
      aborted: false,
    });
  });

  it('cuts the client connection when a non-stream body breaks off (never a short body taken for whole)', async () => {
    const cut: Behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '500' });
      res.write('{"type":"message","content":[');
      setTimeout(() => res.destroy(), 20);
    };
    const { gw, nodes, forwarder } = await setup([
      ['a', cut],
      ['b', answer(200, {}, '{}')],
    ]);
    await expect(send(gw.url, { headers: HEADERS, body: STREAM_BODY })).rejects.toThrow();
    await waitFor('the first outcome', () => gw.outcomes.length === 1);
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'a', brokeMidStream: true, failovers: 0 });
    expect(nodes[1]?.seen.length).toBe(0);
    expect(forwarder.inFlight('a')).toBe(0);
  });

  it('tears down both hops at once on a client abort mid-stream (RST_STREAM on the tunnel), and the tunnel streams return to none', async () => {
    const { gw, nodes, forwarder } = await setup([['a', forwardTo(fake.url, apiKey)]]);
    const node = nodes[0] as StandInNode;
    await send(gw.url, { headers: HEADERS, body: STREAM_BODY }); // warm
    await waitFor("the node's connections closed", () => node.connections() === 0);
    const upstreamClosed = new Promise<{ complete: boolean; at: number }>((resolve) => {
      const off = fake.on('stream-closed', (e) => {
        off();
        resolve({ complete: e.complete, at: performance.now() });
      });
    });
    // The upstream stalls after its first events and writes nothing more until its request is closed: no failed
    // write can end the node's request, only the abort travelling down the hops.
    fake.inject({ kind: 'stall_after_events', afterEvents: 3 });

    const { req } = await openStream(gw.url);
    // Streaming flows unbuffered: the client holds bytes while the node is still mid-stream.
    expect(node.seen[1]?.closedEarlyAt).toBeUndefined();
    expect(forwarder.inFlight('a')).toBe(1);
    const abortedAt = performance.now();
    req.destroy();
    await waitFor('the node to see the second request closed early', () => node.seen[1]?.closedEarlyAt !== undefined);
    const nodeMs = (node.seen[1]?.closedEarlyAt ?? 0) - abortedAt;
    const upstream = await upstreamClosed;
    measured.push(
      `mid-stream: node hop ${nodeMs.toFixed(1)} ms, upstream hop ${(upstream.at - abortedAt).toFixed(1)} ms`,
    );
    expect(upstream.complete).toBe(false);
    await waitFor('the second outcome', () => gw.outcomes.length === 2);
    expect(gw.outcomes[1]).toMatchObject({ nodeId: 'a', status: 200, aborted: true, brokeMidStream: false });
    expect(forwarder.inFlight('a')).toBe(0);
    await waitFor("node a's tunnel streams closed", () => agentStreams(gw, 'a') === 0);
    await waitFor("the node's connections closed", () => node.connections() === 0);
    // Only the stream went: the tunnel serves the next request.
    expect((await send(gw.url, { headers: HEADERS, body: STREAM_BODY })).status).toBe(200);
  });

  it('tears down the node request when the client hangs up before the first byte', async () => {
    const hold: Behaviour = () => {
      // never answers
    };
    const { gw, nodes, forwarder } = await setup([['a', hold]]);
    const node = nodes[0] as StandInNode;
    const req = request(`${gw.url}/v1/messages?beta=true`, { method: 'POST', headers: HEADERS, agent: false });
    req.on('error', () => {});
    req.end(STREAM_BODY);
    await waitFor('the node to see the request', () => node.seen.length === 1);
    expect(forwarder.inFlight('a')).toBe(1);
    const abortedAt = performance.now();
    req.destroy();
    await waitFor('the node to see the request closed early', () => node.seen[0]?.closedEarlyAt !== undefined);
    const nodeMs = (node.seen[0]?.closedEarlyAt ?? 0) - abortedAt;
    measured.push(`before first byte: node hop ${nodeMs.toFixed(1)} ms`);
    await waitFor('the first outcome', () => gw.outcomes.length === 1);
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'a', status: 499, aborted: true });
    expect(forwarder.inFlight('a')).toBe(0);
    await waitFor("node a's tunnel streams closed", () => agentStreams(gw, 'a') === 0);
    await waitFor("the node's connections closed", () => node.connections() === 0);
  });
});
