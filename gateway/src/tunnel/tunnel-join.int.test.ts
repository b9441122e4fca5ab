// Joining the fleet: a real gateway (tunnel hub on a real Redis, the forwarder) and real node peers on
// loopback, each holding only what a node host holds: its id and its token.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { NodeTokens, TUNNEL_PATH, TunnelHeaders } from '@switchyard/shared';
import { send, startTestGateway, type TestGateway } from '../proxy/test-harness.js';
import { dialGateway, testReport, type DialOptions, type TestNodePeer } from './test-harness.js';
import { waitFor } from '@switchyard/testkit';

const HEADERS = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' };
const BODY = '{"model":"claude-sonnet-4-6","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}';

let gw: TestGateway;
let peers: TestNodePeer[] = [];
let servers: Server[] = [];

beforeEach(async () => {
  gw = await startTestGateway();
});
afterEach(async () => {
  for (const p of peers) p.destroy();
  peers = [];
  for (const s of servers) s.closeAllConnections();
  servers = [];
  await gw.stop();
});

function okServer(label = 'ok'): Server {
  const server = createServer((_req, res) =>
    res.writeHead(200, { 'content-type': 'application/json' }).end(`{"served_by":"${label}"}`),
  );
  servers.push(server);
  return server;
}

async function enrol(nodeId: string): Promise<string> {
  const created = await gw.redis.enrolments.create(nodeId);
  if (created === undefined) throw new Error('already enrolled');
  return created.token;
}

async function dial(opts: Omit<DialOptions, 'server'> & { server?: Server }) {
  const result = await dialGateway(gw.url, { server: opts.server ?? okServer(), ...opts });
  if (result.ok) peers.push(result.peer);
  return result;
}

async function joined(opts: Omit<DialOptions, 'server'> & { server?: Server }): Promise<TestNodePeer> {
  const result = await dial(opts);
  if (!result.ok) throw new Error(`refused: ${result.status} ${JSON.stringify(result.body)}`);
  await waitFor(`${opts.nodeId} reporting`, () => gw.hub.reports().some((r) => r.nodeId === opts.nodeId));
  return result.peer;
}

describe('joining with a node token', () => {
  it('answers 101 with the replica list, routes on the first report, and requests flow over the tunnel', async () => {
    const token = await enrol('node-a');
    const report = testReport('node-a', { accountLabel: 'a@example.com' });
    const result = await dial({ nodeId: 'node-a', token, server: okServer('node-a'), report });
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.peer.headers[TunnelHeaders.replica]).toBe('gw-test');
    expect(result.peer.headers[TunnelHeaders.replicas]).toBe('gw-test');
    await waitFor('one node reporting', () => gw.hub.reports().length === 1);
    expect(gw.hub.reports()).toEqual([report]);
    expect(result.peer.stateRequests[0]?.[TunnelHeaders.replicas]).toBe('gw-test');
    expect(gw.hub.tunnelCounts()).toEqual(new Map([['node-a', 1]]));

    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ served_by: 'node-a' });
    expect(gw.outcomes[0]).toMatchObject({ nodeId: 'node-a', status: 200, failovers: 0 });
  });

  it('follows each new report, and ends the tunnel on a report that names another node', async () => {
    const token = await enrol('node-a');
    const peer = await joined({ nodeId: 'node-a', token });
    const first = gw.hub.reports();
    expect(gw.hub.reports()).toBe(first); // the same array until something changes
    peer.report(testReport('node-a', { inFlight: 3 }));
    await waitFor('three requests in flight reported', () => gw.hub.reports()[0]?.inFlight === 3);
    peer.report(testReport('node-b'));
    await peer.closed;
    await waitFor(
      'node-a gone from the hub',
      () => gw.hub.reports().length === 0 && gw.hub.agentFor('node-a') === undefined,
    );
  });

  it('takes a second tunnel of the same process on this replica as a replacement: the old one gets GOAWAY', async () => {
    const token = await enrol('node-a');
    const instance = randomBytes(16).toString('hex');
    const old = await joined({ nodeId: 'node-a', token, instance, server: okServer('old') });
    await joined({ nodeId: 'node-a', token, instance, server: okServer('new') });
    await old.closed;
    await waitFor('one tunnel of node-a', () => gw.hub.tunnelCounts().get('node-a') === 1);
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(JSON.parse(res.body.toString())).toEqual({ served_by: 'new' });
  });
});

describe('refused joins', () => {
  async function refusal(opts: Omit<DialOptions, 'server'>): Promise<{ status: number; code: string | undefined }> {
    const result = await dial(opts);
    if (result.ok) throw new Error('expected a refusal');
    return { status: result.status, code: result.body.error?.code };
  }

  it('refuses a wrong token, an unknown node, another node’s id with my token, and a malformed token', async () => {
    const mine = await enrol('node-a');
    await enrol('node-b');
    expect(await refusal({ nodeId: 'node-a', token: NodeTokens.generate() })).toEqual({
      status: 401,
      code: 'unauthenticated',
    });
    expect(await refusal({ nodeId: 'node-x', token: mine })).toEqual({ status: 401, code: 'unauthenticated' });
    expect(await refusal({ nodeId: 'node-b', token: mine })).toEqual({ status: 401, code: 'unauthenticated' });
    expect(await refusal({ nodeId: 'node-a', token: 'syn-not-a-token' })).toEqual({
      status: 401,
      code: 'unauthenticated',
    });
    expect(gw.hub.reports()).toEqual([]);
  });

  it('refuses a revoked token, and a rotated-out one (the new one joins)', async () => {
    const revoked = await enrol('node-r');
    await gw.redis.enrolments.revoke('node-r');
    expect(await refusal({ nodeId: 'node-r', token: revoked })).toEqual({ status: 401, code: 'unauthenticated' });

    const old = await enrol('node-a');
    const rotated = await gw.redis.enrolments.rotate('node-a');
    expect(await refusal({ nodeId: 'node-a', token: old })).toEqual({ status: 401, code: 'unauthenticated' });
    await joined({ nodeId: 'node-a', token: rotated?.token ?? '' });
  });

  it('refuses a second process with the same node id (409) while the first one serves; once it is gone the next one joins', async () => {
    const token = await enrol('node-a');
    const first = await joined({ nodeId: 'node-a', token, server: okServer('first') });
    expect(await refusal({ nodeId: 'node-a', token })).toEqual({ status: 409, code: 'duplicate_node' });
    const res = await send(gw.url, { headers: HEADERS, body: BODY });
    expect(JSON.parse(res.body.toString())).toEqual({ served_by: 'first' });

    // A clean close releases the lease at once (a crash waits for the PINGs, then the lease's TTL).
    await first.close();
    await waitFor('no node reporting', () => gw.hub.reports().length === 0);
    await waitFor(
      "node-a's lease released",
      async () => (await gw.redis.store.get(gw.redis.keys.nodeLease('node-a'))) === '',
    );
    await joined({ nodeId: 'node-a', token, server: okServer('second') });
  });

  it('closes the tunnel of a process whose lease another process took (e.g. through another replica while this one could not renew)', async () => {
    const other = await startTestGateway({ hub: { leaseRenewMs: 100 } });
    try {
      const created = await other.redis.enrolments.create('node-a');
      const result = await dialGateway(other.url, {
        nodeId: 'node-a',
        token: created?.token ?? '',
        server: okServer(),
      });
      if (!result.ok) throw new Error(`refused: ${result.status}`);
      peers.push(result.peer);
      await waitFor('one node reporting to the other replica', () => other.hub.reports().length === 1);
      await other.redis.store.set(other.redis.keys.nodeLease('node-a'), 'another-process-instance', { ttlMs: 15_000 });
      await result.peer.closed;
      await waitFor('node-a gone from the other replica', () => other.hub.agentFor('node-a') === undefined);
      // Its release must not free the other process's lease.
      expect(await other.redis.store.get(other.redis.keys.nodeLease('node-a'))).toBe('another-process-instance');
    } finally {
      await other.stop();
    }
  });

  it('answers 421 to a tunnel meant for another replica, 400 to a malformed request, 404 elsewhere', async () => {
    const token = await enrol('node-a');
    expect(await refusal({ nodeId: 'node-a', token, replica: 'gw-other' })).toEqual({
      status: 421,
      code: 'misdirected',
    });
    expect(await refusal({ nodeId: 'node-a', token, instance: 'short' })).toEqual({ status: 400, code: 'malformed' });
    expect(await refusal({ nodeId: '', token })).toEqual({ status: 400, code: 'malformed' });
    await joined({ nodeId: 'node-a', token, replica: 'gw-test' });

    const elsewhere = await rawUpgrade('/v1/messages', 'switchyard-tunnel/1');
    expect(elsewhere).toMatch(/^HTTP\/1.1 404 /);
    const wrongProtocol = await rawUpgrade(TUNNEL_PATH, 'websocket');
    expect(wrongProtocol).toMatch(/^HTTP\/1.1 400 /);
  });
});

describe('replicas', () => {
  it('tells a node the live replicas and how to dial them, not the stale ones', async () => {
    const other = await startTestGateway({
      hub: { replica: { id: 'gw-a', url: 'http://127.0.0.1:9/a' }, replicaIntervalMs: 50 },
    });
    try {
      const { store, keys } = other.redis;
      await store.hset(keys.gatewayReplicas(), {
        'gw-b': JSON.stringify({ url: 'http://127.0.0.1:9/b', seenAt: Date.now() }),
        'gw-c': JSON.stringify({ seenAt: Date.now() }),
        'gw-gone': JSON.stringify({ url: 'http://127.0.0.1:9/gone', seenAt: Date.now() - 60_000 }),
      });
      await waitFor('three replicas known', () => other.hub.replicas().length === 3);
      const created = await other.redis.enrolments.create('node-a');
      const result = await dialGateway(other.url, {
        nodeId: 'node-a',
        token: created?.token ?? '',
        server: okServer(),
      });
      if (!result.ok) throw new Error(`refused: ${result.status}`);
      peers.push(result.peer);
      expect(result.peer.headers[TunnelHeaders.replica]).toBe('gw-a');
      expect(result.peer.headers[TunnelHeaders.replicas]).toBe('gw-a,gw-b,gw-c');
      expect(result.peer.headers[TunnelHeaders.replicaUrls]).toBe(
        'gw-a=http://127.0.0.1:9/a,gw-b=http://127.0.0.1:9/b',
      );
      // The state stream carries the list too, so a node can refresh it without dialling again.
      await waitFor('a state request', () => result.peer.stateRequests.length === 1);
      expect(result.peer.stateRequests[0]?.[TunnelHeaders.replicas]).toBe('gw-a,gw-b,gw-c');

      // A stopping replica leaves the list (its field is marked gone).
      await other.hub.stop();
      const field = JSON.parse((await store.hgetall(keys.gatewayReplicas()))['gw-a'] ?? '{}') as { seenAt?: number };
      expect(field.seenAt).toBe(0);
    } finally {
      await other.stop();
    }
  });
});

describe('replicas that come later', () => {
  it('are announced to a connected node on a fresh state stream; the tunnel stays and reports keep flowing', async () => {
    const other = await startTestGateway({ hub: { replica: { id: 'gw-a' }, replicaIntervalMs: 50 } });
    try {
      const created = await other.redis.enrolments.create('node-a');
      const result = await dialGateway(other.url, {
        nodeId: 'node-a',
        token: created?.token ?? '',
        server: okServer('a'),
      });
      if (!result.ok) throw new Error(`refused: ${result.status}`);
      const { peer } = result;
      peers.push(peer);
      expect(peer.headers[TunnelHeaders.replicas]).toBe('gw-a');
      await waitFor('one node reporting to the other replica', () => other.hub.reports().length === 1);

      await other.redis.store.hset(other.redis.keys.gatewayReplicas(), {
        'gw-b': JSON.stringify({ url: 'http://127.0.0.1:9/b', seenAt: Date.now() }),
      });
      await waitFor('a second state request', () => peer.stateRequests.length === 2);
      expect(peer.stateRequests[1]?.[TunnelHeaders.replicas]).toBe('gw-a,gw-b');
      expect(peer.stateRequests[1]?.[TunnelHeaders.replicaUrls]).toBe('gw-b=http://127.0.0.1:9/b');
      // The first state stream is retired once the second one answered; the node serves on.
      peer.report(testReport('node-a', { inFlight: 2 }));
      await waitFor('two requests in flight reported', () => other.hub.reports()[0]?.inFlight === 2);
      expect(other.hub.tunnelCounts().get('node-a')).toBe(1);
      expect((await send(other.url, { headers: HEADERS, body: BODY })).status).toBe(200);
    } finally {
      await other.stop();
    }
  });
});

/** An upgrade request by hand: the answer as raw text. */
function rawUpgrade(path: string, protocol: string): Promise<string> {
  const { port } = new URL(gw.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: ${protocol}\r\n\r\n`);
    });
    let got = '';
    socket.on('data', (c: Buffer) => (got += c.toString()));
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}
