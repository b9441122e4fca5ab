// The egress proxy agents against real proxies on loopback: one that accepts and never answers (CONNECT or SOCKS5),
// and a minimal working SOCKS5 proxy. A request destroyed while its tunnel is being made must close its connection
// to the proxy at once and end with its own error; a tunnel that was made must carry requests and be reused.
import http, { type ClientRequest } from 'node:http';
import https from 'node:https';
import net, { type AddressInfo, type Server, type Socket } from 'node:net';
import { selfSignedCertificate, startSilentServer, type SilentServer, waitFor } from '@switchyard/testkit';
import {
  CancellableHttpsProxyAgent,
  CancellableSocksProxyAgent,
  ProxyConnectAbandonedError,
} from './cancellable-proxy-agents.js';

const cleanup: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
});

async function listening(server: Server, sockets: Set<Socket>): Promise<number> {
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.push(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return (server.address() as AddressInfo).port;
}

/** A proxy that accepts and then says nothing; it remembers its sockets. */
async function stuckProxy(): Promise<SilentServer> {
  const proxy = await startSilentServer();
  cleanup.push(() => proxy.close());
  return proxy;
}

/** SOCKS5 with no authentication, CONNECT to an IPv4 address only: enough for the agent; counts its tunnels. */
async function socksProxy(): Promise<{ url: URL; tunnels: () => number }> {
  let tunnels = 0;
  const open = new Set<Socket>();
  const server = net.createServer((client) => {
    let buffered = Buffer.alloc(0);
    let greeted = false;
    client.on('error', () => undefined);
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!greeted) {
        const methods = buffered[1];
        if (methods === undefined || buffered.length < 2 + methods) return;
        buffered = buffered.subarray(2 + methods);
        greeted = true;
        client.write(Buffer.from([5, 0]));
      }
      // VER CMD RSV ATYP=1 (IPv4) ADDR(4) PORT(2)
      if (buffered.length < 10) return;
      client.off('data', onData);
      client.pause();
      const upstream = net.connect(buffered.readUInt16BE(8), [...buffered.subarray(4, 8)].join('.'), () => {
        tunnels += 1;
        client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]));
        upstream.pipe(client).pipe(upstream);
      });
      open.add(upstream);
      upstream.on('close', () => open.delete(upstream));
      upstream.on('error', () => client.destroy());
    };
    client.on('data', onData);
  });
  const port = await listening(server, open);
  return { url: new URL(`socks5://127.0.0.1:${port}`), tunnels: () => tunnels };
}

/** Sends `req` and records how it ended: the errors it emitted and its close. */
function watch(req: ClientRequest): { errors: Error[]; closed: Promise<void> } {
  const errors: Error[] = [];
  req.on('error', (err) => errors.push(err));
  const closed = new Promise<void>((resolve) => req.once('close', () => resolve()));
  req.end();
  return { errors, closed };
}

async function get(
  url: string,
  agent: http.Agent,
  extra: https.RequestOptions = {},
): Promise<{ status: number; body: string }> {
  const transport = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { agent, ...extra }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

const agents = {
  CONNECT: (port: number) => new CancellableHttpsProxyAgent(new URL(`http://127.0.0.1:${port}`), { keepAlive: true }),
  SOCKS5: (port: number) => new CancellableSocksProxyAgent(new URL(`socks5://127.0.0.1:${port}`), { keepAlive: true }),
};

describe.each(Object.keys(agents) as (keyof typeof agents)[])('a %s proxy that never answers', (kind) => {
  test.each([
    ['with an error of its own, it ends with that error', new Error('given up')],
    ['with no error, it ends with ECONNABORTED', undefined],
  ])(
    'destroying the request while its tunnel is being made closes the connection to the proxy; %s',
    async (_what, cause) => {
      const proxy = await stuckProxy();
      const agent = agents[kind](proxy.port);
      cleanup.push(() => agent.destroy());
      const req = https.request({ host: '127.0.0.1', port: 443, path: '/', agent });
      const { errors, closed } = watch(req);
      await waitFor('the proxy got the handshake', () => proxy.received() > 0, 10_000);
      req.destroy(cause);
      await waitFor(
        'the connection to the proxy closed',
        () => proxy.sockets[0]!.destroyed || proxy.sockets[0]!.readableEnded,
        10_000,
      );
      await closed;
      expect(proxy.sockets).toHaveLength(1);
      expect(errors).toHaveLength(1);
      // Its own error as it was destroyed with, or ProxyConnectAbandonedError (ECONNABORTED) when there was none.
      expect(errors[0]).toBeInstanceOf(cause === undefined ? ProxyConnectAbandonedError : Error);
      expect(errors[0]).toMatchObject(cause === undefined ? { code: 'ECONNABORTED' } : { message: 'given up' });
    },
  );
});

describe('through a working SOCKS5 proxy', () => {
  let cert: Buffer;
  let key: Buffer;
  beforeAll(() => {
    ({ cert, key } = selfSignedCertificate());
  });

  test.each(['http', 'https'] as const)(
    '%s requests reach the target, the second over the same tunnel',
    async (scheme) => {
      const answer = (_req: http.IncomingMessage, res: http.ServerResponse): void => void res.end('through');
      const target = scheme === 'https' ? https.createServer({ key, cert }, answer) : http.createServer(answer);
      const port = await listening(target, new Set());
      const proxy = await socksProxy();
      const agent = new CancellableSocksProxyAgent(proxy.url, { keepAlive: true });
      cleanup.push(() => agent.destroy());
      const url = `${scheme}://127.0.0.1:${port}/`;
      expect(await get(url, agent, { ca: cert })).toEqual({ status: 200, body: 'through' });
      expect(await get(url, agent, { ca: cert })).toEqual({ status: 200, body: 'through' });
      expect(proxy.tunnels()).toBe(1);
    },
  );
});
