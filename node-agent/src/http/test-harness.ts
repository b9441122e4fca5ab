// Test-only helpers for the node app's integration tests: a node serving through a real tunnel to a stand-in
// gateway (fleet/test-harness.ts), calls made the way the gateway makes them (one HTTP/1.1 request per connection
// stream), a recording tap, and small in-test twins of AccountAuth and DrainGate.
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError, ForwardHeaders, newRequestId, NodeTokens, type Logger } from '@switchyard/shared';
import type { FakeAnthropic, IssuedOAuthCredentials } from '@switchyard/testkit';
import { createNodeApp, type NodeAppDeps } from '../app.js';
import type { AccountAuth } from '../credentials/account-auth.js';
import { createAccountStateHolder, type AccountStateHolder } from '../fleet/account-state.js';
import type { DrainGate } from '../fleet/drain.js';
import { createStateReports, type StateReports } from '../fleet/state-reports.js';
import { createTunnelClient, type TunnelClient, type TunnelClientDeps } from '../fleet/tunnel-client.js';
import { startTestGateway, type PeerTunnel, type TestGateway } from '../fleet/test-harness.js';
import { createEgress } from '../upstream/egress.js';
import { createLocalListener } from './local-listener.js';

export const TEST_NODE_ID = 'node-test-1';
/** A well-formed node token for tests (generated once per run; the stand-in gateway does not check it). */
export const TEST_NODE_TOKEN = NodeTokens.generate();

/** Listens on 127.0.0.1:0; returns the base URL. */
export async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** Closes a server and every connection it holds. */
export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

function base(auth: Omit<AccountAuth, 'status' | 'label' | 'start' | 'stop' | 'onStatusChange'>): AccountAuth {
  return {
    ...auth,
    status: () => 'ok',
    label: () => 'test',
    start: async () => {},
    stop: async () => {},
    onStatusChange: () => () => {},
  };
}

/** An API-key account. */
export function apiKeyAuth(key: string): AccountAuth {
  return base({
    kind: 'api_key',
    credentialHeaders: () => Promise.resolve({ headers: { 'x-api-key': key }, token: key }),
    refreshAfterUnauthorized: () => Promise.resolve(false),
  });
}

/** An OAuth account whose refresh asks the fake for a new access token; `afterRefresh` may spoil it. */
export function oauthAuth(
  fake: FakeAnthropic,
  accountId: string,
  opts: { refreshSucceeds?: boolean; afterRefresh?: (fresh: IssuedOAuthCredentials) => void } = {},
): AccountAuth & { refreshes: string[]; current(): IssuedOAuthCredentials } {
  let current = fake.issueOAuthCredentials(accountId);
  const refreshes: string[] = [];
  return {
    ...base({
      kind: 'oauth',
      credentialHeaders: () =>
        Promise.resolve({ headers: { authorization: `Bearer ${current.accessToken}` }, token: current.accessToken }),
      refreshAfterUnauthorized: (token) => {
        refreshes.push(token);
        if (opts.refreshSucceeds === false) return Promise.resolve(false);
        if (token === current.accessToken) {
          current = fake.issueOAuthCredentials(accountId);
          opts.afterRefresh?.(current);
        }
        return Promise.resolve(true);
      },
    }),
    refreshes,
    current: () => current,
  };
}

/** An OAuth account that needs a human login. */
export function needsLoginAuth(): AccountAuth {
  const unavailable = () =>
    Promise.reject(new AppError('unavailable', 'This node needs a login: run the login command.'));
  return {
    ...base({ kind: 'oauth', credentialHeaders: unavailable, refreshAfterUnauthorized: () => Promise.resolve(false) }),
    status: () => 'needs_login',
  };
}

/** A tiny DrainGate that counts. */
export function countingGate(): DrainGate & { entered: number; left: number; close(): void } {
  let closed = false;
  const gate = {
    entered: 0,
    left: 0,
    get inFlight() {
      return gate.entered - gate.left;
    },
    get draining() {
      return closed;
    },
    tryEnter() {
      if (closed) return false;
      gate.entered += 1;
      return true;
    },
    leave() {
      gate.left += 1;
    },
    close() {
      closed = true;
    },
    drain: () => Promise.resolve({ timedOut: false }),
  };
  return gate;
}

/** One captured log line. */
export interface LogLine {
  level: string;
  message: string;
  meta: Record<string, unknown>;
}

/** A Logger that keeps its lines. */
export function captureLogger(
  lines: LogLine[] = [],
  fields: Record<string, unknown> = {},
): Logger & { lines: LogLine[] } {
  const at =
    (level: string) =>
    (message: string, meta: Record<string, unknown> = {}) =>
      void lines.push({ level, message, meta: { ...fields, ...meta } });
  return {
    lines,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (more) => captureLogger(lines, { ...fields, ...more }),
  };
}

/** A node serving through a tunnel to a stand-in gateway, plus what it reported. */
export interface TestNode {
  /** The node's local listener (/health; /metrics when given a handler). */
  url: string;
  gate: ReturnType<typeof countingGate>;
  log: ReturnType<typeof captureLogger>;
  responses: { status: number; headers: IncomingHttpHeaders; model: string | undefined }[];
  account: AccountStateHolder;
  reports: StateReports;
  client: TunnelClient;
  gateway: TestGateway;
  /** The first tunnel the stand-in accepted. */
  tunnel: PeerTunnel;
  close(): Promise<void>;
}

/** Options of startNode beyond the app's own deps. */
export interface StartNodeOptions {
  /** Tunnel client settings (ping timings, backoff, …). */
  tunnel?: Partial<TunnelClientDeps>;
  /** Use this stand-in gateway instead of a fresh one (it is not closed with the node). */
  gateway?: TestGateway;
  reportIntervalMs?: number;
}

/** Starts a node in front of `upstreamUrl`, dialled in to a stand-in gateway; resolves once its first tunnel is open. */
export async function startNode(
  upstreamUrl: string,
  over: Partial<NodeAppDeps> & { auth: AccountAuth },
  opts: StartNodeOptions = {},
): Promise<TestNode> {
  const gate = countingGate();
  const log = captureLogger();
  const responses: TestNode['responses'] = [];
  const egress = over.egress ?? createEgress();
  const account = createAccountStateHolder({ log });
  const startedAt = Date.now();
  const reports = createStateReports({
    log,
    ...(opts.reportIntervalMs === undefined ? {} : { intervalMs: opts.reportIntervalMs }),
    report: () => ({
      nodeId: TEST_NODE_ID,
      accountKind: over.auth.kind,
      accountLabel: 'test',
      state: account.current(),
      inFlight: gate.inFlight,
      version: '0.0.0-test',
      gitSha: 'test',
      startedAt,
      heartbeatAt: Date.now(),
    }),
  });
  account.onChange(() => reports.notify());
  const deps: NodeAppDeps = {
    anthropicBaseUrl: new URL(upstreamUrl),
    maxBodyBytes: 1024 * 1024,
    egress,
    gate,
    log,
    onUpstreamResponse: (status, headers, model) => {
      responses.push({ status, headers, model });
      account.applyResponse(status, headers, model);
    },
    ...over,
  };
  const connections = http.createServer(createNodeApp(deps));
  const local = http.createServer(
    createLocalListener({ draining: () => gate.draining, health: () => ({ status: 'ok', nodeId: TEST_NODE_ID }) }),
  );
  const url = await listen(local);
  const gateway = opts.gateway ?? (await startTestGateway());
  const client = createTunnelClient({
    gatewayUrl: new URL(gateway.url),
    nodeId: TEST_NODE_ID,
    token: TEST_NODE_TOKEN,
    allowHttp: false,
    onStateStream: (stream) => reports.attach(stream),
    connections,
    log,
    pingIntervalMs: 1_000,
    pingTimeoutMs: 5_000,
    backoff: { baseMs: 20, maxMs: 200 },
    ...opts.tunnel,
  });
  client.start();
  const tunnel = await gateway.waitForTunnel();
  return {
    url,
    gate,
    log,
    responses,
    account,
    reports,
    client,
    gateway,
    tunnel,
    close: async () => {
      reports.stop();
      await client.stop(1_000);
      await closeServer(local);
      if (!opts.gateway) await gateway.close();
      egress.destroy();
    },
  };
}

/** How a test call is made, as the gateway makes it: the request id and key id ride in ForwardHeaders. */
export interface CallOptions {
  method?: string;
  path?: string;
  body?: Buffer | string | object;
  headers?: OutgoingHttpHeaders;
  /** Default: a fresh request id. */
  requestId?: string;
  /** Default: key_test. */
  keyId?: string;
  /** Called with the client request once it is sent (to abort it). */
  onRequest?: (req: http.ClientRequest) => void;
}

/** A finished call. */
export interface CallResult {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
}

function bodyBytes(body: CallOptions['body']): Buffer {
  if (body === undefined) return Buffer.alloc(0);
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
}

/** Where a call goes: through a node's tunnel (its first open one), or plain HTTP to a base URL. */
export type CallTarget = TestNode | PeerTunnel | string;

/** The request options that send one call through a tunnel as a fresh connection stream. */
export function viaTunnel(target: TestNode | PeerTunnel): Pick<http.RequestOptions, 'createConnection'> {
  const tunnel = 'connect' in target ? target : (target.gateway.open()[0] ?? target.tunnel);
  // A connection stream is a Duplex, not a net.Socket, which is all node:http needs of it.
  const createConnection = (() => tunnel.connect()) as unknown as http.RequestOptions['createConnection'];
  return { createConnection };
}

/** Makes one HTTP call over a fresh connection (a tunnel stream, or TCP to a URL) and reads the whole answer. */
export function call(target: CallTarget, opts: CallOptions = {}): Promise<CallResult> {
  const body = bodyBytes(opts.body);
  const headers = {
    'content-type': 'application/json',
    'anthropic-version': '2023-06-01',
    [ForwardHeaders.requestId]: opts.requestId ?? newRequestId(),
    [ForwardHeaders.keyId]: opts.keyId ?? 'key_test',
    ...opts.headers,
  };
  const path = opts.path ?? '/v1/messages';
  const where =
    typeof target === 'string'
      ? { url: `${target}${path}`, extra: { agent: false as const } }
      : { url: `http://node.tunnel${path}`, extra: viaTunnel(target) };
  return new Promise((resolve, reject) => {
    const req = http.request(where.url, { method: opts.method ?? 'POST', headers, ...where.extra }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    opts.onRequest?.(req);
    req.end(body.length > 0 ? body : undefined);
  });
}

/** What the tap saw pass between the node and the upstream. */
export interface TapRecord {
  url: string;
  headers: IncomingHttpHeaders;
  requestBody: Buffer;
  status: number;
  /** The upstream's raw response headers (name, value, …). */
  responseHeaders: string[];
  responseBody: Buffer;
}

/** A recording HTTP tap in front of `upstreamUrl`, so a test can compare bytes with what the upstream really sent. */
export async function startTap(
  upstreamUrl: string,
): Promise<{ url: string; records: TapRecord[]; close(): Promise<void> }> {
  const records: TapRecord[] = [];
  const server = http.createServer((req, res) => {
    const reqChunks: Buffer[] = [];
    req.on('data', (c: Buffer) => reqChunks.push(c));
    req.on('end', () => {
      const requestBody = Buffer.concat(reqChunks);
      const up = http.request(
        `${upstreamUrl}${req.url ?? '/'}`,
        { method: req.method, headers: req.headers, agent: false },
        (upRes) => {
          const record: TapRecord = {
            url: req.url ?? '',
            headers: req.headers,
            requestBody,
            status: upRes.statusCode ?? 0,
            responseHeaders: upRes.rawHeaders,
            responseBody: Buffer.alloc(0),
          };
          const chunks: Buffer[] = [];
          res.writeHead(
            upRes.statusCode ?? 502,
            upRes.rawHeaders.filter(
              (_, i, all) => !/^(connection|keep-alive|transfer-encoding)$/i.test(all[i - (i % 2)] ?? ''),
            ),
          );
          upRes.on('data', (c: Buffer) => {
            chunks.push(c);
            res.write(c);
          });
          upRes.on('end', () => {
            record.responseBody = Buffer.concat(chunks);
            records.push(record);
            res.end();
          });
        },
      );
      res.on('close', () => up.destroy());
      up.on('error', () => res.destroy());
      up.end(requestBody);
    });
  });
  const url = await listen(server);
  return { url, records, close: () => closeServer(server) };
}
