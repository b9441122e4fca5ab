// Tunnels ending: revocation, rotation, a hung peer, a peer gone mid-request, a draining gateway. A real
// gateway (tunnel hub on a real Redis, the forwarder) and real node peers on loopback.
import { createServer, request, type IncomingMessage } from 'node:http';
import { sseErrorFrame, withDeadline } from '@switchyard/shared';
import {
  createFakeAnthropic,
  fakeMessagesBody,
  parseSseFrames,
  type FakeAnthropic,
  waitFor,
} from '@switchyard/testkit';
import {
  answer,
  forwardTo,
  send,
  startStandInNode,
  startTestGateway,
  type Behaviour,
  type StandInNode,
  type TestGateway,
} from '../proxy/test-harness.js';
import { lastFrameEnd } from '../proxy/relay-body.js';
import { dialGateway } from './test-harness.js';

const HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
const BODY = JSON.stringify(fakeMessagesBody());
const STREAM_BODY = JSON.stringify(fakeMessagesBody({ stream: true }));

let fake: FakeAnthropic;
let apiKey: string;
let gw: TestGateway;
let nodes: StandInNode[] = [];

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'api-1', kind: 'api_key' }] });
  await fake.start();
  apiKey = fake.account('api-1').apiKey ?? '';
});
afterAll(async () => {
  await fake.stop();
});
beforeEach(async () => {
  gw = await startTestGateway({ stream: true });
});
afterEach(async () => {
  fake.setTiming({ deltaIntervalMs: 0, textDeltas: 3, firstByteDelayMs: 0 });
  for (const n of nodes) n.peer.destroy();
  nodes = [];
  await gw.stop();
});

async function node(nodeId: string, behaviour: Behaviour): Promise<StandInNode> {
  const n = await startStandInNode(gw, nodeId, behaviour);
  nodes.push(n);
  return n;
}

const ok = (label: string): Behaviour =>
  answer(200, { 'content-type': 'application/json' }, `{"served_by":"${label}"}`);

describe('revocation and rotation', () => {
  it('closes a revoked node’s tunnel at its next enrolment poll; its requests go to the others', async () => {
    const a = await node('node-a', ok('a'));
    await node('node-b', ok('b'));
    expect(await gw.redis.enrolments.revoke('node-a')).toBe(true);
    // The hub polls the enrolments every second: the limit is only generous.
    await withDeadline(a.peer.closed, 20_000, 'the revoked tunnel closed');
    await waitFor(
      'node-a dropped, its report kept',
      () => gw.hub.agentFor('node-a') === undefined && gw.hub.reports().length === 1,
    );
    for (let i = 0; i < 3; i++)
      expect(JSON.parse((await send(gw.url, { headers: HEADERS, body: BODY })).body.toString())).toEqual({
        served_by: 'b',
      });
  });

  it('closes the tunnel of a rotated-out token; the node joins again with its new token', async () => {
    const a = await node('node-a', ok('a'));
    const rotated = await gw.redis.enrolments.rotate('node-a');
    await a.peer.closed;
    await waitFor('node-a dropped', () => gw.hub.agentFor('node-a') === undefined);
    const again = await dialGateway(gw.url, { nodeId: 'node-a', token: rotated?.token ?? '', server: createServer() });
    expect(again.ok).toBe(true);
    if (again.ok) again.peer.destroy();
  });
});

describe('a dead peer', () => {
  it('drops a peer that stops answering PINGs (200 ms interval, 1 s timeout)', async () => {
    const quick = await startTestGateway({ stream: true, hub: { pingTimeoutMs: 1_000 } });
    try {
      const a = await startStandInNode(quick, 'node-a', ok('a'));
      nodes.push(a);
      a.peer.freeze();
      // Interval plus timeout is 1.2 s; the limit is only generous.
      await waitFor('hung tunnel dropped', () => quick.hub.agentFor('node-a') === undefined, 20_000);
      expect(quick.hub.reports()).toEqual([]);
    } finally {
      await quick.stop();
    }
  });

  it('fails a request over to another node when the tunnel drops before the response head', async () => {
    let dropped = 0;
    const dropTunnel: Behaviour = () => {
      dropped++;
      nodes.find((n) => n.nodeId === 'node-a')?.peer.destroy();
    };
    await node('node-a', dropTunnel);
    await node('node-b', forwardTo(fake.url, apiKey));
    // Both are candidates; node-a first (the test gateway orders by id).
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(200);
    expect(dropped).toBe(1);
    expect(gw.reports.unreachable).toEqual(['node-a']);
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'node-b', status: 200, failovers: 1, brokeMidStream: false });
  });

  it('ends a stream that was already flowing with the terminal error event when the node is killed mid-stream', async () => {
    fake.setTiming({ deltaIntervalMs: 20, textDeltas: 50 });
    const a = await node('node-a', forwardTo(fake.url, apiKey));
    await node('node-b', forwardTo(fake.url, apiKey));
    const { res, first } = await openStream(gw.url);
    const chunks = [first];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => res.once('end', resolve));
    a.peer.destroy(); // kill -9: the socket goes, nothing is said
    await ended;
    const body = Buffer.concat(chunks).toString();
    const requestId = gw.jobs[0]?.requestId ?? '';
    expect(
      body.endsWith(
        sseErrorFrame('api_error', 'The stream from the upstream node broke off before its end', requestId),
      ),
    ).toBe(true);
    const frames = parseSseFrames(body);
    expect(frames[0]?.event).toBe('message_start');
    expect(frames.at(-1)?.event).toBe('error');
    expect(lastFrameEnd(Buffer.from(body))).toBe(Buffer.byteLength(body));
    await waitFor('the outcome', () => gw.outcomes.length === 1);
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'node-a', status: 200, failovers: 0, brokeMidStream: true });
    expect(nodes[1]?.seen).toHaveLength(0);
  });
});

describe('closing gracefully', () => {
  it('a draining gateway refuses new tunnels (503) and keeps serving on the ones it has; at stop the request in flight finishes first', async () => {
    fake.setTiming({ deltaIntervalMs: 20, textDeltas: 20 });
    const a = await node('node-a', forwardTo(fake.url, apiKey));
    gw.hub.drain();
    const created = await gw.redis.enrolments.create('node-late');
    const late = await dialGateway(gw.url, {
      nodeId: 'node-late',
      token: created?.token ?? '',
      server: createServer(),
    });
    expect(late.ok ? 101 : late.status).toBe(503);
    expect(late.ok ? undefined : late.body.error?.code).toBe('unavailable');

    const { res, first } = await openStream(gw.url);
    const chunks = [first];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => res.once('end', resolve));
    const stopped = gw.hub.stop();
    await ended;
    await stopped;
    const frames = parseSseFrames(Buffer.concat(chunks).toString());
    expect(frames.at(-1)?.event).toBe('message_stop');
    await a.peer.closed;
  });

  it('a node that says GOAWAY finishes its request in flight and gets no new ones', async () => {
    fake.setTiming({ deltaIntervalMs: 20, textDeltas: 20 });
    const a = await node('node-a', forwardTo(fake.url, apiKey));
    const b = await node('node-b', forwardTo(fake.url, apiKey));
    const { res, first } = await openStream(gw.url);
    const chunks = [first];
    res.on('data', (c: Buffer) => chunks.push(c));
    const ended = new Promise((resolve) => res.once('end', resolve));
    a.peer.session.close(); // the node drains: GOAWAY, streams in flight go on
    await waitFor('node-a dropped', () => gw.hub.agentFor('node-a') === undefined);
    expect((await send(gw.url, { headers: HEADERS, body: BODY })).status).toBe(200);
    expect(b.seen).toHaveLength(1);
    await ended;
    expect(parseSseFrames(Buffer.concat(chunks).toString()).at(-1)?.event).toBe('message_stop');
  });
});

/** Opens a streaming request and resolves once the first body bytes arrived. */
function openStream(url: string): Promise<{ res: IncomingMessage; first: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/v1/messages?beta=true`, { method: 'POST', headers: HEADERS, agent: false }, (res) => {
      res.once('data', (first: Buffer) => resolve({ res, first }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => reject(new Error('no first byte')));
    req.end(STREAM_BODY);
  });
}
