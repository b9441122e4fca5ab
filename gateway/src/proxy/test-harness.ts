// Real servers on loopback for the forwarder's tests: stand-in nodes that check the signature, a
// minimal gateway around the forwarder, and a raw HTTP client. Excluded from the build.
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createNonceCache, createNullLogger, newRequestId, verifyRequest } from '@switchyard/shared';
import type { NodeView } from '../routing/index.js';
import { createForwarder } from './create-forwarder.js';
import type { ForwardJob, ForwardOutcome, Forwarder, ForwarderDeps } from './types.js';

/** What the forwarder reported to the registry. */
export interface Reports {
  responses: { nodeId: string; status: number; headers: IncomingHttpHeaders; model: string | undefined }[];
  unreachable: string[];
}

/** A forwarder on its own keep-alive agent (so tests can count its sockets), recording its reports. */
export function recordingForwarder(secret: string, extra: Partial<ForwarderDeps> = {}): { forwarder: Forwarder; reports: Reports; agent: Agent } {
  const reports: Reports = { responses: [], unreachable: [] };
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, timeout: 30_000 });
  const forwarder = createForwarder({
    sharedSecret: secret,
    log: createNullLogger(),
    onNodeResponse: (nodeId, status, headers, model) => reports.responses.push({ nodeId, status, headers, model }),
    onNodeUnreachable: (nodeId) => reports.unreachable.push(nodeId),
    retryDelayMs: 5,
    httpAgent: agent,
    ...extra,
  });
  return { forwarder, reports, agent };
}

/** Sockets the agent holds for requests in progress. */
export function activeSockets(agent: Agent): number {
  let n = 0;
  for (const list of Object.values(agent.sockets)) n += list?.length ?? 0;
  return n;
}

/** One request as a stand-in node got it. */
export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Raw header names and values as they came off the wire (duplicates kept). */
  rawHeaders: string[];
  body: Buffer;
  signatureOk: boolean;
  /** Response body bytes this node wrote. */
  sent: Buffer[];
  /** performance.now() when the gateway hung up on an unfinished response. */
  closedEarlyAt?: number;
}

export type Behaviour = (req: IncomingMessage, res: ServerResponse, seen: SeenRequest) => void;

export interface StandInNode {
  nodeId: string;
  url: string;
  view: NodeView;
  seen: SeenRequest[];
  /** Connections currently open to this node's server. */
  connections(): Promise<number>;
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

/** A NodeView for a node at `url`, available. */
export function nodeView(nodeId: string, url: string): NodeView {
  const now = Date.now();
  return {
    record: { nodeId, url, accountKind: 'api_key', state: { state: 'available', updatedAt: now }, inFlight: 0, version: 'test', gitSha: 'test', startedAt: now, heartbeatAt: now },
    adminDrained: false,
  };
}

/** A node server that refuses unsigned requests (401) and otherwise runs `behaviour`. */
export async function startStandInNode(nodeId: string, secret: string, behaviour: Behaviour): Promise<StandInNode> {
  const seen: SeenRequest[] = [];
  const nonces = createNonceCache(60_000);
  const server = createServer((req, res) => {
    void readAll(req).then((body) => {
      const path = req.url ?? '';
      const check = verifyRequest(secret, { method: req.method ?? '', path, headers: req.headers, body }, { nodeId, nonces });
      const s: SeenRequest = { method: req.method ?? '', path, headers: req.headers, rawHeaders: req.rawHeaders, body, signatureOk: check.ok, sent: [] };
      seen.push(s);
      res.on('close', () => {
        if (!res.writableFinished) s.closedEarlyAt = performance.now();
      });
      if (!check.ok) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ type: 'error', error: { type: 'authentication_error', message: check.reason } }));
        return;
      }
      behaviour(req, res, s);
    });
  });
  const url = await listen(server);
  return {
    nodeId,
    url,
    view: nodeView(nodeId, url),
    seen,
    connections: () => new Promise((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n)))),
    stop: () => stopServer(server),
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
      for (const [k, v] of Object.entries(upRes.headers)) if (typeof v === 'string' && k !== 'transfer-encoding' && k !== 'connection' && k !== 'keep-alive') headers[k] = v;
      res.writeHead(upRes.statusCode ?? 502, headers);
      if (headers['content-type']?.startsWith('text/event-stream') === true) res.flushHeaders();
      let sent = 0;
      let broken = false;
      upRes.on('data', (chunk: Buffer) => {
        if (broken) return;
        let out = chunk;
        if (opts.breakAfterBytes !== undefined && sent + out.length >= opts.breakAfterBytes) out = out.subarray(0, opts.breakAfterBytes - sent);
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

/** A minimal gateway around the forwarder: reads the body, forwards to `candidates()`, keeps each outcome. */
export interface TestGateway {
  url: string;
  outcomes: ForwardOutcome[];
  jobs: ForwardJob[];
  /** The client request's headers as the gateway saw them after forward() returned. */
  headersAfter: IncomingHttpHeaders[];
  /** Resolves with the outcome of the next request to finish. */
  nextOutcome(): Promise<ForwardOutcome>;
  stop(): Promise<void>;
}

export async function startTestGateway(forwarder: Forwarder, candidates: () => NodeView[], opts: { stream?: boolean; model?: string } = {}): Promise<TestGateway> {
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
  const url = await listen(server);
  return {
    url,
    outcomes,
    jobs,
    headersAfter,
    nextOutcome: () => new Promise((resolve) => waiters.push(resolve)),
    stop: () => stopServer(server),
  };
}

/** A response as the client got it. */
export interface ClientResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** Sends one request on a fresh connection and reads the whole answer (a cut answer rejects). */
export function send(url: string, init: { method?: string; path?: string; headers?: Record<string, string | string[]>; body?: Buffer | string }): Promise<ClientResponse> {
  return new Promise((resolve, reject) => {
    // host/port/path rather than one URL string, so the path goes on the wire exactly as given.
    const { hostname, port } = new URL(url);
    const options = { hostname, port, path: init.path ?? '/v1/messages?beta=true', method: init.method ?? 'POST', headers: init.headers ?? {}, agent: false };
    const req = request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.once('error', reject);
    });
    req.once('error', reject);
    req.end(init.body ?? '');
  });
}
