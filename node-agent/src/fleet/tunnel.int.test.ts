// The node's tunnel against a stand-in gateway on loopback (a real HTTP server that upgrades and runs Node's HTTP/2
// client over the socket): who it says it is, what it reports, how it comes back after a drop or a refusal, one
// tunnel per replica, PINGs, https, and a graceful close.
import http, { type IncomingMessage } from 'node:http';
import { connect, createServer, type Socket } from 'node:net';
import { TUNNEL_UPGRADE, TunnelHeaders } from '@switchyard/shared';
import {
  createFakeAnthropic,
  fakeMessagesBody,
  type FakeAnthropic,
  selfSignedCertificate,
  waitFor,
} from '@switchyard/testkit';
import {
  call,
  captureLogger,
  oauthAuth,
  startNode,
  TEST_NODE_ID,
  TEST_NODE_TOKEN,
  type TestNode,
} from '../http/test-harness.js';
import { startRelay, startTestGateway, type TestGateway, type UpgradeAnswer } from './test-harness.js';
import { createTunnelClient } from './tunnel-client.js';

let fake: FakeAnthropic;
let fakeUrl: string;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1' }] });
  fakeUrl = await fake.start();
});
afterAll(() => fake.stop());
beforeEach(() => fake.reset());
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function node(opts: Parameters<typeof startNode>[2] = {}): Promise<TestNode> {
  const n = await startNode(fakeUrl, { auth: oauthAuth(fake, 'max-1') }, opts);
  cleanup.push(() => n.close());
  return n;
}

async function gateway(answer?: (req: IncomingMessage) => UpgradeAnswer): Promise<TestGateway> {
  const gw = await startTestGateway(answer ? { answer } : {});
  cleanup.push(() => gw.close());
  return gw;
}

const replicaOf = (req: IncomingMessage): string | undefined =>
  req.headers[TunnelHeaders.replica] as string | undefined;
const messages = (lines: TestNode['log']['lines'], message: string) => lines.filter((l) => l.message === message);
const body = fakeMessagesBody();

test('the first dial carries the node token, id and instance, no replica header; requests flow through to the upstream', async () => {
  const n = await node();
  const dial = n.gateway.dials[0]!;
  expect(dial.headers.authorization).toBe(`Bearer ${TEST_NODE_TOKEN}`);
  expect(dial.headers[TunnelHeaders.nodeId]).toBe(TEST_NODE_ID);
  expect(dial.headers[TunnelHeaders.instance]).toBe(n.client.instance);
  expect(dial.headers.upgrade).toBe(TUNNEL_UPGRADE);
  expect(dial.headers[TunnelHeaders.replica]).toBeUndefined();
  const res = await call(n, { body });
  expect(res.status).toBe(200);
  expect(fake.requests).toHaveLength(1);
  expect(JSON.stringify(n.log.lines)).not.toContain(TEST_NODE_TOKEN);
});

test('a state report arrives at once, and a new one when a 429 benches the account', async () => {
  const n = await node();
  const first = await n.tunnel.waitForReport(() => true);
  expect(first).toMatchObject({
    nodeId: TEST_NODE_ID,
    accountKind: 'oauth',
    state: { state: 'available' },
    inFlight: 0,
  });
  fake.inject({ kind: 'rate_limit', resetInSec: 1800, match: { accountId: 'max-1' } });
  expect((await call(n, { body })).status).toBe(429);
  const limited = await n.tunnel.waitForReport((r) => r.state.state === 'limited', 5_000);
  expect(limited.state.limitedUntil).toBeGreaterThan(Date.now());
});

test('reports keep coming at least every interval when nothing changes', async () => {
  // Ten intervals of 100 ms take 1 s; at the default interval (5 s) they would take 50 s, past the limit.
  const n = await node({ reportIntervalMs: 100 });
  await waitFor('eleven reports', () => n.tunnel.reports.length >= 11, 30_000);
  // Nothing changed between them: only the timer sent them.
  expect(new Set(n.tunnel.reports.map((r) => JSON.stringify({ ...r, heartbeatAt: 0 }))).size).toBe(1);
});

test('the gateway drops the socket: the node dials again as the same instance and serves on the new tunnel', async () => {
  const n = await node();
  n.gateway.dropAll();
  const second = await n.gateway.waitForTunnel((t) => t !== n.tunnel);
  expect(second.headers[TunnelHeaders.instance]).toBe(n.client.instance);
  expect((await call(second, { body })).status).toBe(200);
  expect(messages(n.log.lines, 'tunnel lost')).toHaveLength(1);
  await second.waitForReport(() => true);
});

test('a GOAWAY from the gateway (a replica draining): the running stream finishes on the old tunnel, new requests go to a new one', async () => {
  fake.setTiming({ deltaIntervalMs: 30, textDeltas: 15 });
  try {
    const n = await node();
    const stream = call(n.tunnel, { body: fakeMessagesBody({ stream: true }) });
    await waitFor('the stream started', () => n.gate.inFlight === 1, 5_000);
    n.tunnel.session.close();
    const second = await n.gateway.waitForTunnel((t) => t !== n.tunnel);
    expect(messages(n.log.lines, 'tunnel lost')[0]!.meta).toMatchObject({ reason: 'goaway' });
    expect((await call(second, { body })).status).toBe(200);
    expect((await stream).body.toString()).toContain('event: message_stop');
    await waitFor('the old tunnel closed', () => n.tunnel.closed, 5_000);
  } finally {
    fake.setTiming({ deltaIntervalMs: 0, textDeltas: 3 });
  }
});

describe('refusals', () => {
  async function refusedThenAccepted(status: number, code: string, times: number): Promise<TestNode> {
    let refused = 0;
    const gw = await gateway(() => (refused++ < times ? { kind: 'refuse', status, code } : { kind: 'accept' }));
    const n = await node({ gateway: gw, tunnel: { backoff: { baseMs: 10, maxMs: 60 } } });
    expect(gw.dials.filter((d) => d.status === status)).toHaveLength(times);
    expect((await call(n, { body })).status).toBe(200);
    return n;
  }

  test('401: one line naming the fix, however often it is retried, then the node joins once the token is good', async () => {
    const n = await refusedThenAccepted(401, 'unauthenticated', 4);
    const lines = messages(n.log.lines, 'node token refused (revoked or wrong)');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'error',
      meta: { nodeId: TEST_NODE_ID, status: 401, fix: expect.stringMatching(/switchyard nodes add/) as unknown },
    });
  });

  test('409: one line saying another process holds the id, retried until the other one is gone', async () => {
    const n = await refusedThenAccepted(409, 'duplicate_node', 3);
    expect(messages(n.log.lines, 'another process holds this node id')).toHaveLength(1);
  });

  test.each([
    [421, 'misdirected'],
    [503, 'unavailable'],
    [502, 'bad_gateway'],
  ])('%s is retried', async (status, code) => {
    await refusedThenAccepted(status, code, 3);
  });

  test('an unreachable gateway: one warning for the whole outage, then the node joins when it is up', async () => {
    const gw = await gateway();
    const relay = await startRelay(gw.port);
    cleanup.push(() => relay.close());
    await relay.close();
    let unreachable = 0;
    const pending = startNode(
      fakeUrl,
      { auth: oauthAuth(fake, 'max-1') },
      {
        gateway: gw,
        tunnel: {
          gatewayUrl: new URL(relay.url),
          backoff: { baseMs: 10, maxMs: 50 },
          onDial: (outcome) => void (outcome === 'unreachable' && unreachable++),
        },
      },
    );
    // Nothing listens at the relay's port any more: refused connections, again and again.
    await waitFor('three refused dials', () => unreachable >= 3, 20_000);
    const revived = await startRelayOn(relay.url, gw.port);
    cleanup.push(() => revived.close());
    const n = await pending;
    cleanup.push(() => n.close());
    expect(messages(n.log.lines, 'gateway unreachable, retrying')).toHaveLength(1);
  });
});

/** A relay on a given (just freed) port. */
async function startRelayOn(url: string, targetPort: number): Promise<{ close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.once('close', () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(Number(new URL(url).port), '127.0.0.1', resolve));
  return {
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('replicas', () => {
  test('one tunnel per live replica: the others through GATEWAY_URL with the replica header; a lost one is dialled back alone', async () => {
    const gw = await gateway((req) => ({ kind: 'accept', replica: replicaOf(req) ?? 'gw-1', replicas: 'gw-1,gw-2' }));
    const n = await node({ gateway: gw });
    await waitFor('two tunnels', () => n.client.connected().length === 2, 5_000);
    expect(n.client.connected().sort()).toEqual(['gw-1', 'gw-2']);
    expect(gw.dials.map((d) => d.headers[TunnelHeaders.replica])).toEqual([undefined, 'gw-2']);
    const second = gw.tunnels[1]!;
    expect((await call(second, { body })).status).toBe(200);
    await second.waitForReport(() => true);

    second.socket.destroy();
    await gw.waitForTunnel((t) => t !== second && t.headers[TunnelHeaders.replica] === 'gw-2');
    await waitFor('two tunnels again', () => n.client.connected().length === 2, 5_000);
    expect(gw.dials.map((d) => d.headers[TunnelHeaders.replica])).toEqual([undefined, 'gw-2', 'gw-2']);
    expect(gw.open()).toHaveLength(2);
  });

  test('a replica with a direct URL is dialled there (naming it); when it goes away the other tunnel keeps serving, and it is dialled back when it returns', async () => {
    // Every replica answers with the same list (the gateways share it), gw-b with a direct URL.
    let replicaUrls = '';
    const b = await gateway(() => ({ kind: 'accept', replica: 'gw-b', replicas: 'gw-a,gw-b', replicaUrls }));
    replicaUrls = `gw-b=${b.url}`;
    const a = await gateway(() => ({ kind: 'accept', replica: 'gw-a', replicas: 'gw-a,gw-b', replicaUrls }));
    const n = await node({ gateway: a, tunnel: { backoff: { baseMs: 10, maxMs: 100 } } });
    const atB = await b.waitForTunnel();
    expect(atB.headers[TunnelHeaders.replica]).toBe('gw-b');
    expect(a.dials).toHaveLength(1);

    b.answer = () => ({ kind: 'refuse', status: 503, code: 'unavailable' });
    b.dropAll();
    await waitFor('redials to gw-b', () => b.dials.length >= 3, 5_000);
    expect(n.client.connected()).toEqual(['gw-a']);
    expect((await call(n.tunnel, { body })).status).toBe(200);

    b.answer = () => ({ kind: 'accept', replica: 'gw-b', replicas: 'gw-a,gw-b', replicaUrls });
    await b.waitForTunnel((t) => t !== atB);
    await waitFor('gw-b back', () => n.client.connected().length === 2, 5_000);
    expect(a.dials).toHaveLength(1);
  });

  test('a fresher replica list on the state stream request is followed', async () => {
    const gw = await gateway((req) => ({
      kind: 'accept',
      replica: replicaOf(req) ?? 'gw-1',
      replicas: 'gw-1',
      stateHeaders: { [TunnelHeaders.replicas]: 'gw-1,gw-3' },
    }));
    const n = await node({ gateway: gw });
    await waitFor('a tunnel to gw-3', () => n.client.connected().length === 2, 5_000);
    expect(gw.dials.map((d) => d.headers[TunnelHeaders.replica])).toEqual([undefined, 'gw-3']);
  });

  test('with no tunnel left, the node dials GATEWAY_URL without a replica header again', async () => {
    const gw = await gateway((req) => ({ kind: 'accept', replica: replicaOf(req) ?? 'gw-1', replicas: 'gw-1,gw-2' }));
    const n = await node({ gateway: gw, tunnel: { backoff: { baseMs: 10, maxMs: 50 } } });
    await waitFor('two tunnels', () => n.client.connected().length === 2, 5_000);
    gw.answer = (req) =>
      replicaOf(req) === undefined
        ? { kind: 'accept', replica: 'gw-9', replicas: 'gw-9' }
        : { kind: 'refuse', status: 421, code: 'misdirected' };
    gw.dropAll();
    await waitFor('a tunnel to the new replica', () => n.client.connected().join() === 'gw-9', 5_000);
    expect(gw.dials.at(-1)!.headers[TunnelHeaders.replica]).toBeUndefined();
  });
});

test('a gateway that stops answering PINGs is dropped by the ping timeout, and dialled again', async () => {
  const gw = await gateway();
  const relay = await startRelay(gw.port);
  cleanup.push(() => relay.close());
  // Timeouts of 2 s: a healthy tunnel or dial on a loaded machine does not hit them; the frozen relay always does.
  const n = await node({
    gateway: gw,
    tunnel: {
      gatewayUrl: new URL(relay.url),
      pingIntervalMs: 200,
      pingTimeoutMs: 2_000,
      dialTimeoutMs: 2_000,
      backoff: { baseMs: 10, maxMs: 50 },
    },
  });
  expect((await call(n, { body })).status).toBe(200);
  relay.freeze();
  await waitFor('the tunnel dropped', () => messages(n.log.lines, 'tunnel lost').length === 1, 30_000);
  expect(messages(n.log.lines, 'tunnel ping unanswered')).toHaveLength(1);
  expect(messages(n.log.lines, 'tunnel lost')[0]!.meta).toMatchObject({ reason: 'ping_timeout' });
  expect(n.client.connected()).toEqual([]);
  // New connections through the frozen relay never get an answer: timed out, warned about once.
  await waitFor('redials time out', () => messages(n.log.lines, 'gateway unreachable, retrying').length === 1, 30_000);
});

test('streams the gateway may not open are refused with 404', async () => {
  const n = await node();
  const status = await new Promise<number | undefined>((resolve) => {
    const s = n.tunnel.session.request({ ':method': 'GET', ':path': '/v1/messages' });
    s.on('response', (h) => resolve(h[':status']));
    s.on('error', () => resolve(undefined));
    s.end();
  });
  expect(status).toBe(404);
  expect(fake.requests).toHaveLength(0);
});

test('a graceful close lets a running stream finish, then the tunnel closes', async () => {
  fake.setTiming({ deltaIntervalMs: 30, textDeltas: 15 });
  try {
    const n = await node();
    const stream = call(n, { body: fakeMessagesBody({ stream: true }) });
    await waitFor('the stream started', () => n.gate.inFlight === 1, 5_000);
    n.account.setDraining();
    await n.tunnel.waitForReport((r) => r.state.state === 'draining', 5_000);
    n.gate.close();
    expect((await call(n, { body })).status).toBe(503);
    n.reports.stop();
    const closing = n.client.stop(10_000);
    const res = await stream;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toContain('event: message_stop');
    await closing;
    await waitFor('the tunnel closed', () => n.tunnel.closed, 5_000);
    expect(fake.requests.filter((r) => r.route === 'messages')).toHaveLength(1);
  } finally {
    fake.setTiming({ deltaIntervalMs: 0, textDeltas: 3 });
  }
});

describe('an https gateway', () => {
  let tls: { key: Buffer; cert: Buffer };
  beforeAll(() => {
    tls = selfSignedCertificate();
  });

  test('the tunnel runs over TLS (the certificate checked) and serves requests', async () => {
    const gw = await startTestGateway({ tls });
    cleanup.push(() => gw.close());
    expect(gw.url).toMatch(/^https:/);
    const n = await node({ gateway: gw, tunnel: { ca: tls.cert } });
    expect((await call(n, { body: fakeMessagesBody({ stream: true }) })).body.toString()).toContain(
      'event: message_stop',
    );
    await n.tunnel.waitForReport(() => true);
  });

  test('a certificate the node does not trust: no tunnel, one warning naming the TLS error', async () => {
    const gw = await startTestGateway({ tls });
    cleanup.push(() => gw.close());
    const log = captureLogger();
    let unreachable = 0;
    const client = createTunnelClient({
      gatewayUrl: new URL(gw.url),
      nodeId: TEST_NODE_ID,
      token: TEST_NODE_TOKEN,
      allowHttp: false,
      onStateStream: () => undefined,
      connections: http.createServer(),
      log,
      pingIntervalMs: 1_000,
      pingTimeoutMs: 2_000,
      backoff: { baseMs: 10, maxMs: 50 },
      onDial: (outcome) => void (outcome === 'unreachable' && unreachable++),
    });
    client.start();
    await waitFor('three refused handshakes', () => unreachable >= 3, 20_000);
    await client.stop(100);
    expect(gw.dials).toHaveLength(0);
    expect(gw.tunnels).toHaveLength(0);
    expect(messages(log.lines, 'gateway unreachable, retrying')).toHaveLength(1);
    expect(messages(log.lines, 'gateway unreachable, retrying')[0]!.meta.errorCode).toMatch(/CERT|SELF_SIGNED/);
  });
});
