// Test-only: a stand-in gateway for the node's tunnel. A real HTTP server on loopback whose 'upgrade' handler
// answers 101 (or a refusal) and then runs Node's HTTP/2 client over the socket, exactly as the gateway does:
// it opens the state stream and one connection stream per request. Plus a TCP relay that can freeze a
// connection (a peer that stops answering without closing).
import http, { type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type ClientHttp2Session } from 'node:http2';
import https from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import {
  CONNECTION_STREAM_PATH,
  CREDENTIAL_PATH,
  guardEmptyWrites,
  NodeReportSchema,
  STATE_STREAM_PATH,
  TUNNEL_UPGRADE,
  TunnelHeaders,
  type NodeReport,
} from '@switchyard/shared';
import { waitFor } from '@switchyard/testkit';

/** How the stand-in answers one upgrade. */
export type UpgradeAnswer =
  | { kind: 'accept'; replica?: string; replicas?: string; replicaUrls?: string; stateHeaders?: Record<string, string> }
  | { kind: 'refuse'; status: number; code: string; message?: string };

/** One tunnel as the stand-in gateway holds it. */
export interface PeerTunnel {
  readonly headers: IncomingHttpHeaders;
  readonly session: ClientHttp2Session;
  readonly socket: Socket;
  /** Every report line received on its state stream, parsed (a line that does not parse fails the test loudly). */
  readonly reports: NodeReport[];
  readonly closed: boolean;
  /** A new connection stream: what http-proxy would get from the gateway's per-node agent. */
  connect(): Duplex;
  waitForReport(check: (r: NodeReport) => boolean, timeoutMs?: number): Promise<NodeReport>;
}

/** A dial the stand-in saw, and what it answered. */
export interface SeenDial {
  headers: IncomingHttpHeaders;
  status: number;
}

export interface TestGateway {
  readonly url: string;
  readonly port: number;
  readonly dials: SeenDial[];
  /** Every tunnel ever accepted, oldest first. */
  readonly tunnels: PeerTunnel[];
  /** The answer to the next upgrades; default: accept, naming no replica. */
  answer: (req: IncomingMessage) => UpgradeAnswer;
  /** Tunnels open now. */
  open(): PeerTunnel[];
  /** Resolves with the first open tunnel that passes `check` (default: any), waiting for it. */
  waitForTunnel(check?: (t: PeerTunnel) => boolean, timeoutMs?: number): Promise<PeerTunnel>;
  /** The sealed credential copy the node PUT (CREDENTIAL_PATH answers GET 200/404 and PUT 204, checking nothing). */
  sealed: string | undefined;
  /** Cuts every tunnel's TCP connection at once (a crashed replica). */
  dropAll(): void;
  close(): Promise<void>;
}

function writeRefusal(socket: Socket, answer: Extract<UpgradeAnswer, { kind: 'refuse' }>): void {
  const body = JSON.stringify({ error: { code: answer.code, message: answer.message ?? answer.code } });
  socket.end(
    `HTTP/1.1 ${answer.status} ${http.STATUS_CODES[answer.status] ?? 'Refused'}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

/** Answers 101, then (once that write is done: see tunnel-dial.ts) runs the HTTP/2 client on the socket. */
function accept(
  socket: Socket,
  head: Buffer,
  req: IncomingMessage,
  answer: Extract<UpgradeAnswer, { kind: 'accept' }>,
  adopt: (t: PeerTunnel) => void,
): void {
  const lines = ['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Upgrade: ${TUNNEL_UPGRADE}`];
  if (answer.replica !== undefined) lines.push(`${TunnelHeaders.replica}: ${answer.replica}`);
  if (answer.replicas !== undefined) lines.push(`${TunnelHeaders.replicas}: ${answer.replicas}`);
  if (answer.replicaUrls !== undefined) lines.push(`${TunnelHeaders.replicaUrls}: ${answer.replicaUrls}`);
  if (head.length > 0) socket.unshift(head);
  socket.write(`${lines.join('\r\n')}\r\n\r\n`, () => {
    if (!socket.destroyed) adopt(clientOn(socket, req, answer));
  });
}

function clientOn(
  socket: Socket,
  req: IncomingMessage,
  answer: Extract<UpgradeAnswer, { kind: 'accept' }>,
): PeerTunnel {
  const session = http2.connect('http://node.tunnel', { createConnection: () => socket });
  session.on('error', () => undefined);
  const reports: NodeReport[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  session.once('close', () => (closed = true));
  const state = session.request({ ':method': 'GET', ':path': STATE_STREAM_PATH, ...answer.stateHeaders });
  state.on('error', () => undefined);
  let partial = '';
  state.setEncoding('utf8');
  state.on('data', (chunk: string) => {
    partial += chunk;
    let nl = partial.indexOf('\n');
    while (nl !== -1) {
      reports.push(NodeReportSchema.parse(JSON.parse(partial.slice(0, nl))));
      partial = partial.slice(nl + 1);
      nl = partial.indexOf('\n');
    }
    for (const wake of waiters) wake();
  });
  return {
    headers: req.headers,
    session,
    socket,
    reports,
    get closed() {
      return closed || session.destroyed;
    },
    connect: () =>
      guardEmptyWrites(session.request({ ':method': 'POST', ':path': CONNECTION_STREAM_PATH }, { endStream: false })),
    async waitForReport(check, timeoutMs = 10_000) {
      let found: NodeReport | undefined;
      await waitFor('report', () => (found = reports.find(check)) !== undefined, timeoutMs);
      return found as NodeReport;
    },
  };
}

function credentialRoute(gw: TestGateway, req: IncomingMessage, res: ServerResponse): void {
  if (req.url !== CREDENTIAL_PATH) return void res.writeHead(404).end();
  if (req.method === 'GET') {
    if (gw.sealed === undefined) return void res.writeHead(404).end();
    return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sealed: gw.sealed }));
  }
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (c: string) => (body += c));
  req.on('end', () => {
    gw.sealed = (JSON.parse(body) as { sealed: string }).sealed;
    res.writeHead(204).end();
  });
}

/** Options of startTestGateway. */
export interface TestGatewayOptions {
  /** The answer to upgrades (default: accept). */
  answer?: (req: IncomingMessage) => UpgradeAnswer;
  /** Serve https with this key and certificate. */
  tls?: { key: string | Buffer; cert: string | Buffer };
}

/**
 * Starts the stand-in gateway on 127.0.0.1:0.
 * @example
 * const gw = await startTestGateway(); gw.answer = () => ({ kind: 'refuse', status: 401, code: 'unauthenticated' });
 */
export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const dials: SeenDial[] = [];
  const tunnels: PeerTunnel[] = [];
  const sockets = new Set<Socket>();
  const handler = (req: IncomingMessage, res: ServerResponse): void => credentialRoute(gw, req, res);
  const server = opts.tls ? https.createServer(opts.tls, handler) : http.createServer(handler);
  const gw: TestGateway = {
    url: '',
    port: 0,
    dials,
    tunnels,
    sealed: undefined,
    answer: opts.answer ?? (() => ({ kind: 'accept' })),
    open: () => tunnels.filter((t) => !t.closed),
    async waitForTunnel(check = () => true, timeoutMs = 10_000) {
      let found: PeerTunnel | undefined;
      await waitFor('tunnel', () => (found = tunnels.find((t) => !t.closed && check(t))) !== undefined, timeoutMs);
      return found as PeerTunnel;
    },
    dropAll() {
      for (const socket of sockets) socket.destroy();
    },
    async close() {
      gw.dropAll();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const answer = gw.answer(req);
    dials.push({ headers: req.headers, status: answer.kind === 'accept' ? 101 : answer.status });
    if (answer.kind === 'refuse') return writeRefusal(socket, answer);
    accept(socket, head, req, answer, (t) => tunnels.push(t));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  Object.assign(gw, { url: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`, port });
  return gw;
}

/** A TCP relay in front of a port; freeze() stops moving bytes without closing anything (a peer gone silent). */
export interface Relay {
  readonly url: string;
  freeze(): void;
  close(): Promise<void>;
}

export async function startRelay(targetPort: number): Promise<Relay> {
  const pairs = new Set<[Socket, Socket]>();
  let frozen = false;
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      s.on('error', () => undefined);
      s.once('close', () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    if (frozen) return;
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    freeze() {
      frozen = true;
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
    async close() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
