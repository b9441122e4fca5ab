// UPSTREAM_CONNECT_TIMEOUT_MS and UPSTREAM_HEADERS_TIMEOUT_MS against real servers on loopback: a proxy that never
// answers its CONNECT, a TLS server that never finishes its handshake, an upstream that takes the request and never
// answers. A timer that must fire is configured small and asserted with bounds generous by far more than 10×. A timer
// that must not fire is given seconds (CALM), so a stall of a second on a loaded machine between arming it and the
// event that stops it cuts nothing; the answers that must pass outlast the limit shown not to apply by a second or
// more, by construction (sleeps), and stay seconds inside the other limit.
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import {
  createFakeAnthropic,
  fakeMessagesBody,
  type FakeAnthropic,
  selfSignedCertificate,
  startSilentServer,
  type SilentServer,
  waitFor,
} from '@switchyard/testkit';
import { call, oauthAuth, startNode, type TestNode } from '../http/test-harness.js';
import { createEgress, type Egress } from './egress.js';

let fake: FakeAnthropic;
let fakeUrl: string;
const cleanup: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1' }] });
  fakeUrl = await fake.start();
});

beforeEach(() => fake.reset());

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

afterAll(() => fake.stop());

async function silentServer(): Promise<SilentServer> {
  const server = await startSilentServer();
  cleanup.push(() => server.close());
  return server;
}

/** A plain CONNECT proxy (it tunnels to whatever it is asked for) that counts the tunnels it opened. */
async function connectProxy(): Promise<{ url: string; tunnels: () => number }> {
  let tunnels = 0;
  const open = new Set<Socket>();
  const server = http.createServer((_req, res) => res.writeHead(405).end());
  server.on('connect', (req: http.IncomingMessage, client: Socket, head: Buffer) => {
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host ?? '127.0.0.1', () => {
      tunnels += 1;
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => (s === client ? upstream : client).destroy());
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, tunnels: () => tunnels };
}

async function node(
  upstreamUrl: string,
  timeouts: { connectMs: number; headersMs: number },
  egress?: Egress,
): Promise<TestNode> {
  const n = await startNode(upstreamUrl, {
    auth: oauthAuth(fake, 'max-1'),
    upstreamTimeouts: timeouts,
    ...(egress === undefined ? {} : { egress }),
  });
  cleanup.push(() => n.close());
  return n;
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const start = performance.now();
  const value = await run();
  return { value, ms: performance.now() - start };
}

// Limits that must not run out, and an answer slower than the connect limit and far inside the head limit.
const CALM = { connectMs: 2_000, headersMs: 10_000 } as const;
const SLOW_MS = 3_000;

const failures = (n: TestNode) =>
  n.log.lines.filter((l) => l.level === 'warn' && l.message.startsWith('upstream request'));

describe('the connect timeout (UPSTREAM_CONNECT_TIMEOUT_MS)', () => {
  test('an egress proxy that never answers the CONNECT → 502 api_error within the timeout; nothing reached Anthropic, the proxy connection closed', async () => {
    const proxy = await silentServer();
    const n = await node(
      fakeUrl,
      { connectMs: 100, headersMs: 60_000 },
      createEgress({ proxyUrl: `http://127.0.0.1:${proxy.port}` }),
    );
    const { value: res, ms } = await timed(() => call(n, { body: fakeMessagesBody(), requestId: 'req_connect_proxy' }));
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body.toString())).toMatchObject({
      type: 'error',
      error: { type: 'api_error', message: 'The node could not reach Anthropic.' },
      request_id: 'req_connect_proxy',
    });
    expect(ms).toBeLessThan(10_000);
    expect(proxy.received()).toBeGreaterThan(0); // the CONNECT was sent and sat unanswered
    expect(fake.requests).toHaveLength(0);
    expect(n.responses).toHaveLength(0);
    expect(failures(n).map((l) => [l.message, l.meta])).toEqual([
      ['upstream request timed out', { requestId: 'req_connect_proxy', timeout: 'connect', timeoutMs: 100 }],
    ]);
    expect(proxy.sockets).toHaveLength(1);
    await waitFor(
      'the node closed its connection to the stuck proxy',
      () => proxy.sockets[0]!.destroyed || proxy.sockets[0]!.readableEnded,
      10_000,
    );
  });

  test('an https upstream that never finishes the TLS handshake → 502 within the timeout, and its connection is closed', async () => {
    const silent = await silentServer();
    const n = await node(`https://127.0.0.1:${silent.port}`, { connectMs: 100, headersMs: 60_000 });
    const { value: res, ms } = await timed(() => call(n, { body: fakeMessagesBody() }));
    expect(res.status).toBe(502);
    expect(ms).toBeLessThan(10_000);
    expect(silent.received()).toBeGreaterThan(0); // the ClientHello, and nothing could follow it
    expect(silent.sockets).toHaveLength(1);
    await waitFor(
      'the node closed the half-open TLS connection',
      () => silent.sockets[0]!.destroyed || silent.sockets[0]!.readableEnded,
      10_000,
    );
    expect(failures(n).map((l) => l.meta.timeout)).toEqual(['connect']);
  });

  test('through a working egress proxy, an answer slower than the connect timeout passes, on a fresh tunnel and a reused one', async () => {
    const proxy = await connectProxy();
    const n = await node(fakeUrl, CALM, createEgress({ proxyUrl: proxy.url }));
    fake.inject({ kind: 'slow_first_byte', delayMs: SLOW_MS, times: 2 });
    for (let i = 0; i < 2; i++) {
      const { value: res, ms } = await timed(() => call(n, { body: fakeMessagesBody() }));
      expect(res.status).toBe(200);
      expect(ms).toBeGreaterThan(CALM.connectMs); // slower than the connect timeout, by construction
    }
    expect(proxy.tunnels()).toBe(1);
    expect(failures(n)).toHaveLength(0);
  });

  describe('over TLS', () => {
    let cert: Buffer;
    let key: Buffer;
    beforeAll(() => {
      ({ cert, key } = selfSignedCertificate());
    });

    test('a completed handshake stops the connect timer: a slow answer passes on a fresh TLS connection and a reused one', async () => {
      // TLS in front of the fake, and an egress whose agent trusts that certificate.
      let handshakes = 0;
      const front = tls.createServer({ key, cert }, (socket) => {
        handshakes += 1;
        const upstream = net.connect(Number(new URL(fakeUrl).port), '127.0.0.1');
        socket.pipe(upstream).pipe(socket);
        socket.on('error', () => upstream.destroy());
        upstream.on('error', () => socket.destroy());
      });
      await new Promise<void>((resolve) => front.listen(0, '127.0.0.1', resolve));
      cleanup.push(() => new Promise<void>((resolve) => front.close(() => resolve())));
      const agent = new https.Agent({ keepAlive: true, ca: cert });
      const egress: Egress = { agentFor: () => agent, destroy: () => agent.destroy(), describe: () => 'test tls' };
      const n = await node(`https://127.0.0.1:${(front.address() as AddressInfo).port}`, CALM, egress);
      fake.inject({ kind: 'slow_first_byte', delayMs: SLOW_MS, times: 2 });
      for (let i = 0; i < 2; i++) {
        const { value: res, ms } = await timed(() => call(n, { body: fakeMessagesBody() }));
        expect(res.status).toBe(200);
        expect(ms).toBeGreaterThan(CALM.connectMs); // slower than the connect timeout, by construction
      }
      expect(handshakes).toBe(1);
      expect(failures(n)).toHaveLength(0);
    });
  });
});

describe('the response-head timeout (UPSTREAM_HEADERS_TIMEOUT_MS)', () => {
  test('an upstream that takes the request and sends no head → 504 timeout_error within the timeout, the upstream request closed', async () => {
    const n = await node(fakeUrl, { connectMs: 10_000, headersMs: 200 });
    fake.inject({ kind: 'slow_first_byte', delayMs: 120_000 });
    const { value: res, ms } = await timed(() => call(n, { body: fakeMessagesBody(), requestId: 'req_head_timeout' }));
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body.toString())).toEqual({
      type: 'error',
      error: {
        type: 'timeout_error',
        message: 'Anthropic sent no response within 0.2 s; the request may have been processed.',
      },
      request_id: 'req_head_timeout',
    });
    expect(ms).toBeLessThan(10_000);
    expect(fake.requests).toHaveLength(1); // it reached Anthropic: hence 504, never 502
    await waitFor('the upstream request closed', () => fake.openRequests() === 0, 10_000);
    expect(n.responses).toHaveLength(0); // no answer, so nothing about the account was learnt
    expect(failures(n).map((l) => [l.message, l.meta])).toEqual([
      ['upstream request timed out', { requestId: 'req_head_timeout', timeout: 'headers', timeoutMs: 200 }],
    ]);
  });

  test('a slow answer within both limits passes (the connect timer stops once connected)', async () => {
    const n = await node(fakeUrl, CALM);
    fake.inject({ kind: 'slow_first_byte', delayMs: SLOW_MS });
    const { value: res, ms } = await timed(() => call(n, { body: fakeMessagesBody() }));
    expect(res.status).toBe(200);
    expect(ms).toBeGreaterThan(CALM.connectMs); // slower than the connect timeout, by construction
    expect(failures(n)).toHaveLength(0);
  });

  test('a stream whose head came at once runs on past the head timeout to its end', async () => {
    // The head comes at once, seconds inside its limit; six deltas 600 ms apart run 1.6 s past that limit.
    const n = await node(fakeUrl, { connectMs: 10_000, headersMs: 2_000 });
    fake.setTiming({ deltaIntervalMs: 600, textDeltas: 6 });
    try {
      const { value: res, ms } = await timed(() => call(n, { body: fakeMessagesBody({ stream: true }) }));
      expect(res.status).toBe(200);
      expect(res.body.toString()).toContain('event: message_stop');
      expect(ms).toBeGreaterThan(3_000); // six paced deltas: well past the head timeout
      expect(failures(n)).toHaveLength(0);
    } finally {
      fake.setTiming({ deltaIntervalMs: 0, textDeltas: 3 });
    }
  });
});
