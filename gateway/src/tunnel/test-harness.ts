// Real tunnels on loopback for the gateway's tests: a tunnel hub on a real Redis (its own key prefix),
// and a small node peer that dials it the way a node-agent does (HTTP/1.1 Upgrade, then the HTTP/2
// server on the socket, CONNECTION streams handed to a plain node:http server). Excluded from the build.
import { randomBytes } from 'node:crypto';
import { request, type IncomingHttpHeaders, type Server as HttpServer } from 'node:http';
import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import {
  CONNECTION_STREAM_PATH,
  STATE_STREAM_PATH,
  TUNNEL_PATH,
  TUNNEL_UPGRADE,
  TunnelHeaders,
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  guardEmptyWrites,
  initialAccountState,
  type Keyspace,
  type Logger,
  type NodeReport,
  type SharedStore,
} from '@switchyard/shared';
import { deleteKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createEnrolmentRepository, type EnrolmentRepository } from '../nodes/index.js';
import { createTunnelHub, type TunnelHub, type TunnelHubDeps } from './tunnel-hub.js';

/** A real Redis under a fresh prefix, with the enrolments on it. */
export interface TestRedis {
  store: SharedStore;
  keys: Keyspace;
  enrolments: EnrolmentRepository;
  /** Deletes the prefix's keys and closes the connection. */
  stop(): Promise<void>;
}

export function openTestRedis(label: string): TestRedis {
  const prefix = uniquePrefix(label);
  const client = createIoRedisClient(testRedisUrl());
  const store = createIoRedisStore(client);
  const keys = createKeyspace(prefix);
  return {
    store,
    keys,
    enrolments: createEnrolmentRepository({ store, keys }),
    async stop() {
      await deleteKeys(client, prefix);
      await store.close();
    },
  };
}

/**
 * A hub on `redis`, fast timers unless told otherwise. The PING timeout is 5 s: a healthy tunnel on a loaded machine
 * never misses it (a test of dead peers sets a shorter one).
 */
export function testHub(redis: TestRedis, over: Partial<TunnelHubDeps> = {}): TunnelHub {
  return createTunnelHub({
    enrolments: redis.enrolments,
    store: redis.store,
    keys: redis.keys,
    log: createNullLogger(),
    replica: { id: 'gw-test' },
    pingIntervalMs: 200,
    pingTimeoutMs: 5_000,
    ...over,
  });
}

/** A report of an available API-key node. */
export function testReport(nodeId: string, over: Partial<NodeReport> = {}): NodeReport {
  const now = Date.now();
  return {
    nodeId,
    accountKind: 'api_key',
    state: initialAccountState(now),
    inFlight: 0,
    version: 'test',
    gitSha: 'test',
    startedAt: now,
    heartbeatAt: now,
    ...over,
  };
}

/** How a dial ended: a tunnel, or the gateway's refusal. */
export type DialResult =
  | { ok: true; peer: TestNodePeer }
  | { ok: false; status: number; body: { error?: { code?: string; message?: string } } };

export interface DialOptions {
  nodeId: string;
  token: string;
  /** Default: a fresh random one (one process). */
  instance?: string;
  replica?: string;
  /** The node's ordinary HTTP server: it gets every CONNECTION stream as a connection. */
  server: HttpServer;
  /** The first report (default testReport(nodeId)); false: send none. */
  report?: NodeReport | false;
  /** The status the peer answers CONNECTION streams with (default 200). */
  connectionStatus?: number;
  /** Send PINGs too (the node's half of liveness); default off, the gateway's PINGs are what is tested. */
  pingIntervalMs?: number;
  log?: Logger;
}

/** A dialled-in node, as the gateway sees it from the other end. */
export interface TestNodePeer {
  /** The 101 answer's headers. */
  headers: IncomingHttpHeaders;
  session: ServerHttp2Session;
  socket: Socket;
  /** Headers of the state stream requests the gateway opened. */
  stateRequests: IncomingHttpHeaders[];
  /** CONNECTION streams open now. */
  openConnections(): number;
  /** Writes a report line on every open state stream. */
  report(report: NodeReport): void;
  /** Resolves once the session closed (either side). */
  closed: Promise<void>;
  /** Stops reading the socket: the gateway's PINGs go unanswered, as with a hung peer. */
  freeze(): void;
  /** GOAWAY, then the socket. */
  close(): Promise<void>;
  destroy(): void;
}

/** Dials `gatewayUrl` like a node-agent and serves the tunnel. */
export function dialGateway(gatewayUrl: string, opts: DialOptions): Promise<DialResult> {
  const { hostname, port } = new URL(gatewayUrl);
  const headers: Record<string, string> = {
    connection: 'Upgrade',
    upgrade: TUNNEL_UPGRADE,
    authorization: `Bearer ${opts.token}`,
    [TunnelHeaders.nodeId]: opts.nodeId,
    [TunnelHeaders.instance]: opts.instance ?? randomBytes(16).toString('hex'),
    ...(opts.replica === undefined ? {} : { [TunnelHeaders.replica]: opts.replica }),
  };
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, path: TUNNEL_PATH, method: 'GET', headers, agent: false });
    req.once('error', reject);
    req.once('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => {
        let body: { error?: { code?: string; message?: string } } = {};
        try {
          body = JSON.parse(Buffer.concat(chunks).toString()) as typeof body;
        } catch {
          // not JSON: the status says enough
        }
        resolve({ ok: false, status: res.statusCode ?? 0, body });
      });
    });
    req.once('upgrade', (res, socket, head) => {
      resolve({ ok: true, peer: serveTunnel(res.headers, socket, head, opts) });
    });
    req.end();
  });
}

function serveTunnel(headers: IncomingHttpHeaders, socket: Socket, head: Buffer, opts: DialOptions): TestNodePeer {
  if (head.length > 0) socket.unshift(head);
  socket.on('error', () => undefined);
  const session = http2.performServerHandshake(socket);
  session.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => session.once('close', resolve));
  const stateStreams = new Set<ServerHttp2Stream>();
  const stateRequests: IncomingHttpHeaders[] = [];
  let open = 0;
  let last: NodeReport | undefined = opts.report === false ? undefined : (opts.report ?? testReport(opts.nodeId));
  session.on('stream', (stream, h) => {
    stream.on('error', () => undefined);
    if (h[':path'] === CONNECTION_STREAM_PATH) {
      const status = opts.connectionStatus ?? 200;
      if (status !== 200) return void stream.respond({ ':status': status }, { endStream: true });
      open++;
      stream.once('close', () => open--);
      stream.respond({ ':status': 200 });
      opts.server.emit('connection', guardEmptyWrites(stream));
      return;
    }
    if (h[':path'] === STATE_STREAM_PATH) {
      stateRequests.push(h);
      stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' });
      stateStreams.add(stream);
      stream.once('close', () => stateStreams.delete(stream));
      if (last !== undefined) stream.write(`${JSON.stringify(last)}\n`);
      return;
    }
    stream.respond({ ':status': 404 }, { endStream: true });
  });
  const pinger =
    opts.pingIntervalMs === undefined
      ? undefined
      : setInterval(() => {
          if (!session.destroyed && !session.closed) session.ping(() => undefined);
        }, opts.pingIntervalMs);
  void closed.then(() => clearInterval(pinger));
  return {
    headers,
    session,
    socket,
    stateRequests,
    openConnections: () => open,
    report(report) {
      last = report;
      for (const s of stateStreams) s.write(`${JSON.stringify(report)}\n`);
    },
    closed,
    freeze() {
      socket.pause();
      // http2 reads the socket natively: pausing the JS stream alone does not stop it.
      (socket as unknown as { _handle?: { readStop?: () => void } })._handle?.readStop?.();
    },
    async close() {
      session.close();
      for (const s of stateStreams) s.end();
      // At most a second for the GOAWAY to settle; the timer goes with it, so no test file is held open by it.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((r) => (timer = setTimeout(r, 1_000)))]);
      clearTimeout(timer);
      session.destroy();
    },
    destroy() {
      session.destroy();
      socket.destroy();
    },
  };
}
