// A loopback micro-benchmark of the tunnel hop, not a test: 1,000 sequential requests with a 1 KB body and a
// 1 KB answer, client → a gateway HTTP server → node, three ways:
//   direct   the client talks to the node's HTTP server itself (the baseline: no gateway hop)
//   proxy    the gateway forwards through http-proxy-3 on the tunnel agent (HTTP/1.1 on one HTTP/2 stream per request; what ships)
//   h2       the gateway drives the HTTP/2 session itself (one HTTP/2 request per request, the node answers on the stream)
// Everything runs in this process, so the numbers compare the paths; they are not the production latency.
// Run: node --conditions=source --import tsx gateway/src/tunnel/tunnel-overhead.bench.ts [requests]
import { Agent, createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import http2, { type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { pathToFileURL } from 'node:url';
import {
  CONNECTION_STREAM_PATH,
  createNullLogger,
  guardEmptyWrites,
  forwardableRequestHeaders,
  forwardableResponseHeaders,
  STATE_STREAM_PATH,
  TUNNEL_UPGRADE,
} from '@switchyard/shared';
import { createForwarder } from '../proxy/index.js';
import type { NodeView } from '../routing/index.js';
import { noTunnelError, TunnelAgent } from './tunnel-agent.js';
import { openTunnelSession, type TunnelSession } from './tunnel-session.js';
import { switchingProtocols } from './upgrade-answers.js';

const KB = Buffer.alloc(1024, 0x61);
const NODE_ID = 'bench-node';

interface Summary {
  p50: number;
  p99: number;
  mean: number;
}

function summarize(ms: number[]): Summary {
  const s = [...ms].sort((a, b) => a - b);
  const at = (q: number): number => s[Math.min(s.length - 1, Math.round((s.length - 1) * q))] ?? Number.NaN;
  const r = (x: number): number => Math.round(x * 1000) / 1000;
  return { p50: r(at(0.5)), p99: r(at(0.99)), mean: r(s.reduce((a, b) => a + b, 0) / s.length) };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function drain(req: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    req.resume();
    req.once('end', resolve);
  });
}

/** The node: its ordinary HTTP server, and the HTTP/2 side that serves the tunnel. */
function nodeSide(): { app: Server; serve(socket: Socket, head: Buffer): void } {
  const app = createServer((req, res) => {
    void drain(req).then(() =>
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(KB.length) }).end(KB),
    );
  });
  const onStream = (stream: ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void => {
    stream.on('error', () => undefined);
    if (headers[':path'] === CONNECTION_STREAM_PATH) {
      stream.respond({ ':status': 200 });
      app.emit('connection', guardEmptyWrites(stream));
    } else if (headers[':path'] === STATE_STREAM_PATH) {
      stream.respond({ ':status': 200 });
    } else {
      // The "h2" path: the request itself on the stream.
      stream.resume();
      stream.once('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/json', 'content-length': String(KB.length) });
        stream.end(KB);
      });
    }
  };
  return {
    app,
    serve(socket, head) {
      if (head.length > 0) socket.unshift(head);
      http2.performServerHandshake(socket).on('stream', onStream);
    },
  };
}

/** The gateway's tunnel to the node: upgrade on its server, the session, the agent. */
async function tunnel(
  gatewayPort: number,
  gateway: Server,
  node: ReturnType<typeof nodeSide>,
): Promise<{ session: TunnelSession; agent: TunnelAgent }> {
  const opened = new Promise<TunnelSession>((resolve) => {
    gateway.once('upgrade', (_req: IncomingMessage, socket: Socket, head: Buffer) => {
      switchingProtocols(socket, {});
      const log = createNullLogger();
      resolve(
        openTunnelSession(
          socket,
          head,
          { nodeId: NODE_ID, instance: 'bench-instance', tokenDigest: '0'.repeat(64), remote: undefined },
          {
            pingIntervalMs: 5_000,
            pingTimeoutMs: 10_000,
            stateHeaders: {},
            log,
            onReport: () => undefined,
            onChange: () => undefined,
            onEnd: () => undefined,
          },
        ),
      );
    });
  });
  const dial = request({
    host: '127.0.0.1',
    port: gatewayPort,
    path: '/_switchyard/tunnel',
    headers: { connection: 'Upgrade', upgrade: TUNNEL_UPGRADE },
  });
  dial.once('upgrade', (_res, socket, head) => node.serve(socket, head));
  dial.end();
  const session = await opened;
  const agent = new TunnelAgent(() => {
    if (!session.live()) throw noTunnelError(NODE_ID);
    return session.openConnection();
  });
  return { session, agent };
}

/** The h2 path's gateway handler: the client's request as one HTTP/2 request on the session, piped back. */
function h2Handler(session: () => http2.ClientHttp2Session) {
  return (req: IncomingMessage, res: ServerResponse, body: Buffer): void => {
    const headers: http2.OutgoingHttpHeaders = {
      ':method': req.method ?? 'POST',
      ':path': req.url ?? '/',
      ...forwardableRequestHeaders(req.headers),
      'content-length': String(body.length),
    };
    const stream = session().request(headers, { endStream: false });
    stream.once('response', (h) => {
      const raw: string[] = [];
      for (const [k, v] of Object.entries(h)) if (!k.startsWith(':') && typeof v === 'string') raw.push(k, v);
      res.writeHead(Number(h[':status']), forwardableResponseHeaders(raw, 'req_bench'));
      stream.pipe(res);
    });
    stream.on('error', () => res.destroy());
    stream.end(body);
  };
}

/** One request at a time; resolves with each one's milliseconds. */
async function sequential(n: number, url: string, client: Agent): Promise<number[]> {
  const once = (): Promise<number> =>
    new Promise((resolve, reject) => {
      const started = performance.now();
      const req = request(
        `${url}/v1/messages`,
        {
          method: 'POST',
          agent: client,
          headers: { 'content-type': 'application/json', 'content-length': String(KB.length) },
        },
        (res) => {
          res.resume();
          res.once('end', () => resolve(performance.now() - started));
        },
      );
      req.once('error', reject);
      req.end(KB);
    });
  const samples: number[] = [];
  for (let i = 0; i < n; i++) samples.push(await once());
  return samples;
}

/** Runs the three paths and prints one JSON line per path, plus what each gateway path adds over direct. */
export async function runTunnelOverheadBench(n = 1_000): Promise<Record<string, Summary>> {
  const node = nodeSide();
  const nodePort = await listen(node.app);

  // The gateway: one server, its request handler picks the path by a header set per run.
  let mode: 'proxy' | 'h2' = 'proxy';
  const links: { tunnelled?: { session: TunnelSession; agent: TunnelAgent }; raw?: http2.ClientHttp2Session } = {};
  const forwarder = createForwarder({
    agentFor: () => links.tunnelled?.agent,
    log: createNullLogger(),
    onNodeResponse: () => undefined,
    onNodeUnreachable: () => undefined,
  });
  const view: NodeView = {
    record: {
      nodeId: NODE_ID,
      accountKind: 'api_key',
      state: { state: 'available', updatedAt: Date.now() },
      inFlight: 0,
      version: 'b',
      gitSha: 'b',
      startedAt: 0,
      heartbeatAt: 0,
    },
    adminDrained: false,
  };
  const h2 = h2Handler(() => links.raw as http2.ClientHttp2Session);
  const gateway = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => {
      const body = Buffer.concat(chunks);
      if (mode === 'h2') return h2(req, res, body);
      void forwarder.forward(req, res, {
        requestId: 'req_bench',
        keyId: 'bench',
        method: 'POST',
        path: req.url ?? '/',
        body,
        candidates: [view],
        stream: false,
      });
    });
  });
  const gatewayPort = await listen(gateway);
  const tunnelled = await tunnel(gatewayPort, gateway, node);
  links.tunnelled = tunnelled;
  // The h2 path reuses a second tunnel's raw session (same setup, no agent).
  const second = new Promise<http2.ClientHttp2Session>((resolve) => {
    gateway.once('upgrade', (_req: IncomingMessage, socket: Socket, head: Buffer) => {
      switchingProtocols(socket, {});
      resolve(http2.connect('http://node.tunnel.invalid', { createConnection: () => socket }));
      if (head.length > 0) socket.unshift(head);
    });
  });
  const dial = request({
    host: '127.0.0.1',
    port: gatewayPort,
    path: '/_switchyard/tunnel',
    headers: { connection: 'Upgrade', upgrade: TUNNEL_UPGRADE },
  });
  dial.once('upgrade', (_res, socket, head) => node.serve(socket, head));
  dial.end();
  const rawSession = await second;
  links.raw = rawSession;

  const client = new Agent({ keepAlive: true, maxSockets: 1 });
  const paths = {
    direct: { url: `http://127.0.0.1:${nodePort}`, mode: 'proxy' as const },
    proxy: { url: `http://127.0.0.1:${gatewayPort}`, mode: 'proxy' as const },
    h2: { url: `http://127.0.0.1:${gatewayPort}`, mode: 'h2' as const },
  };
  // Warm every path up, then interleave rounds so load from elsewhere on the machine hits all three alike.
  for (const p of Object.values(paths)) {
    mode = p.mode;
    await sequential(300, p.url, client);
  }
  const rounds = 10;
  const samples: Record<string, number[]> = { direct: [], proxy: [], h2: [] };
  for (let r = 0; r < rounds; r++) {
    for (const [name, p] of Object.entries(paths)) {
      mode = p.mode;
      samples[name]?.push(...(await sequential(Math.ceil(n / rounds), p.url, client)));
    }
  }
  const results: Record<string, Summary> = {};
  for (const [name, ms] of Object.entries(samples)) results[name] = summarize(ms);

  client.destroy();
  rawSession.destroy();
  tunnelled.session.destroy('bench over');
  gateway.closeAllConnections();
  node.app.closeAllConnections();
  gateway.close();
  node.app.close();
  return results;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const n = Number(process.argv[2] ?? 1000);
  runTunnelOverheadBench(n).then(
    (results) => {
      for (const [path, s] of Object.entries(results)) console.log(JSON.stringify({ path, requests: n, ...s }));
      const direct = results.direct as Summary;
      for (const path of ['proxy', 'h2']) {
        const s = results[path] as Summary;
        console.log(
          JSON.stringify({
            path,
            addedOverDirectMs: {
              p50: Math.round((s.p50 - direct.p50) * 1000) / 1000,
              p99: Math.round((s.p99 - direct.p99) * 1000) / 1000,
            },
          }),
        );
      }
      process.exit(0);
    },
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
