// Real servers on loopback for the forwarder's tests: a minimal gateway around the forwarder with a real
// tunnel hub (on a real Redis), stand-in nodes that dial into it and serve requests over their tunnel,
// and a raw HTTP client. Excluded from the build.
import {
  createServer,
  request,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNullLogger, newRequestId, type NodeReport } from '@switchyard/shared';
import type { NodeView } from '../routing/index.js';
import {
  dialGateway,
  openTestRedis,
  testHub,
  testReport,
  type DialOptions,
  type TestNodePeer,
  type TestRedis,
} from '../tunnel/test-harness.js';
import type { TunnelHub, TunnelHubDeps } from '../tunnel/index.js';
import { createForwarder } from './create-forwarder.js';
import type { ForwardJob, ForwardOutcome, Forwarder, ForwarderDeps } from './types.js';
import { waitFor } from '@switchyard/testkit';

/** What the forwarder reported to the registry. */
export interface Reports {
  responses: { nodeId: string; status: number; headers: IncomingHttpHeaders; model: string | undefined }[];
  unreachable: string[];
}

/** One request as a stand-in node got it. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Raw header names and values as they came off the wire (duplicates kept). */
  rawHeaders: string[];
  body: Buffer;
  /** Response body bytes this node wrote. */
  sent: Buffer[];
  /** performance.now() when the gateway hung up on an unfinished response. */
  closedEarlyAt?: number;
}

export type Behaviour = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void;

export interface StandInNode {
  nodeId: string;
  view: NodeView;
  seen: SeenRequest[];
  /** The node's end of its tunnel. */
  peer: TestNodePeer;
  /** Tunnel streams (one per request) open on this node now. */
  connections(): number;
  stop(): Promise<void>;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function stopServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** A NodeView for a node's report (available by default). */
export function nodeView(nodeId: string, report: NodeReport = testReport(nodeId)): NodeView {
  return { record: report, adminDrained: false };
}

/** A minimal gateway around the forwarder: reads the body, forwards to `candidates()`, keeps each outcome. Nodes dial into its hub. */
export interface TestGateway {
  url: string;
  hub: TunnelHub;
  redis: TestRedis;
  forwarder: Forwarder;
  reports: Reports;
  outcomes: ForwardOutcome[];
  jobs: ForwardJob[];
  /** The client request's headers as the gateway saw them after forward() returned. */
  headersAfter: IncomingHttpHeaders[];
  /** Resolves with the outcome of the next request to finish. */
  nextOutcome(): Promise<ForwardOutcome>;
  stop(): Promise<void>;
}

export interface TestGatewayOptions {
  /** Default: every node with a live tunnel, in node id order. */
  candidates?: () => NodeView[];
  stream?: boolean;
  model?: string;
  forwarder?: Partial<ForwarderDeps>;
  hub?: Partial<TunnelHubDeps>;
}

export async function startTestGateway(opts: TestGatewayOptions = {}): Promise<TestGateway> {
  const redis = openTestRedis('proxy');
  const hub = testHub(redis, opts.hub);
  const reports: Reports = { responses: [], unreachable: [] };
  const forwarder = createForwarder({
    agentFor: (nodeId) => hub.agentFor(nodeId),
    log: createNullLogger(),
    onNodeResponse: (nodeId, status, headers, model) => reports.responses.push({ nodeId, status, headers, model }),
    onNodeUnreachable: (nodeId) => reports.unreachable.push(nodeId),
    retryDelayMs: 5,
    ...opts.forwarder,
  });
  const candidates = opts.candidates ?? (() => hub.reports().map((r) => nodeView(r.nodeId, r)));
  const outcomes: ForwardOutcome[] = [];
  const jobs: ForwardJob[] = [];
  const headersAfter: IncomingHttpHeaders[] = [];
  let waiters: ((o: ForwardOutcome) => void)[] = [];
  const server = createServer((req, res) => {
    void readAll(req).then(async (body) => {
      const job: ForwardJob = {
        requestId: newRequestId(),
        keyId: 'key-test',
        method: req.method ?? 'GET',
        path: req.url ?? '/',
        body,
        candidates: candidates(),
        stream: opts.stream ?? false,
        ...(opts.model === undefined ? {} : { model: opts.model }),
      };
      jobs.push(job);
      const outcome = await forwarder.forward(req, res, job);
      outcomes.push(outcome);
      headersAfter.push({ ...req.headers });
      const ws = waiters;
      waiters = [];
      for (const w of ws) w(outcome);
    });
  });
  server.on('upgrade', hub.handleUpgrade);
  const url = await listen(server);
  await hub.start();
  return {
    url,
    hub,
    redis,
    forwarder,
    reports,
    outcomes,
    jobs,
    headersAfter,
    nextOutcome: () => new Promise((resolve) => waiters.push(resolve)),
    async stop() {
      await hub.stop();
      await stopServer(server);
      await redis.stop();
    },
  };
}

/**
 * Enrols `nodeId` on the gateway, dials in and serves `behaviour` over the tunnel; resolves once the
 * gateway routes on the node's first report.
 */
export async function startStandInNode(
  gw: TestGateway,
  nodeId: string,
  behaviour: Behaviour,
  dial: Partial<DialOptions> = {},
): Promise<StandInNode> {
  const enrolled = await gw.redis.enrolments.create(nodeId);
  if (enrolled === undefined) throw new Error(`node ${nodeId} is enrolled already`);
  const seen: SeenRequest[] = [];
  const server = createServer((req, res) => {
    void readAll(req).then((body) => {
      const s: SeenRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        rawHeaders: req.rawHeaders,
        body,
        sent: [],
      };
      seen.push(s);
      res.on('close', () => {
        if (!res.writableFinished) s.closedEarlyAt = performance.now();
      });
      behaviour(req, res, s);
    });
  });
  const joined = await dialGateway(gw.url, { nodeId, token: enrolled.token, server, ...dial });
  if (!joined.ok) throw new Error(`node ${nodeId} could not join: ${joined.status} ${JSON.stringify(joined.body)}`);
  const { peer } = joined;
  await waitFor(`${nodeId} routable`, () => gw.hub.reports().some((r) => r.nodeId === nodeId), 10_000);
  return {
    nodeId,
    view: nodeView(nodeId),
    seen,
    peer,
    connections: () => peer.openConnections(),
    async stop() {
      await peer.close();
      server.closeAllConnections();
    },
  };
}

/** Answers every request with a fixed status, headers and body. */
export function answer(status: number, headers: Record<string, string>, body: string): Behaviour {
  return (_req, res, seen) => {
    const bytes = Buffer.from(body);
    seen.sent.push(bytes);
    res.writeHead(status, { ...headers, 'content-length': String(bytes.length) }).end(bytes);
  };
}

/**
 * Forwards to the fake upstream with an API-key account, relaying status, headers and bytes, the way a
 * node does: `breakAfterBytes` destroys the connection once that many body bytes went out.
 */
export function forwardTo(upstreamUrl: string, apiKey: string, opts: { breakAfterBytes?: number } = {}): Behaviour {
  return (req, res, seen) => {
    const up = request(`${upstreamUrl}${seen.path}`, {
      method: seen.method,
      headers: {
        'x-api-key': apiKey,
        'anthropic-version': String(req.headers['anthropic-version'] ?? '2023-06-01'),
        'content-type': 'application/json',
        'content-length': String(seen.body.length),
      },
    });
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    up.on('error', () => res.destroy());
    up.on('response', (upRes) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(upRes.headers))
        if (typeof v === 'string' && k !== 'transfer-encoding' && k !== 'connection' && k !== 'keep-alive')
          headers[k] = v;
      res.writeHead(upRes.statusCode ?? 502, headers);
      if (headers['content-type']?.startsWith('text/event-stream') === true) res.flushHeaders();
      let sent = 0;
      let broken = false;
      upRes.on('data', (chunk: Buffer) => {
        if (broken) return;
        let out = chunk;
        if (opts.breakAfterBytes !== undefined && sent + out.length >= opts.breakAfterBytes)
          out = out.subarray(0, opts.breakAfterBytes - sent);
        sent += out.length;
        seen.sent.push(out);
        res.write(out);
        if (opts.breakAfterBytes !== undefined && sent >= opts.breakAfterBytes) {
          broken = true;
          up.destroy();
          // Let the partial bytes leave before the connection drops.
          setTimeout(() => res.destroy(), 20);
        }
      });
      upRes.on('end', () => {
        if (!broken) res.end();
      });
      upRes.on('close', () => {
        if (!upRes.complete && !broken) res.destroy();
      });
    });
    up.end(seen.body);
  };
}

/** A response as the client got it. */
export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Sends one request on a fresh connection and reads the whole answer (a cut answer rejects). */
export function send(
  url: string,
  init: { method?: string; path?: string; headers?: Record<string, string | string[]>; body?: Buffer | string },
): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    // host/port/path rather than one URL string, so the path goes on the wire exactly as given.
    const { hostname, port } = new URL(url);
    const options = {
      hostname,
      port,
      path: init.path ?? '/v1/messages?beta=true',
      method: init.method ?? 'POST',
      headers: init.headers ?? {},
      agent: false,
    };
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(init.body ?? '');
  });
}
