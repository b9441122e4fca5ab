// Test-only helpers for the node app's integration tests: a running node over the fake upstream,
// signed calls, a recording tap, and small in-test twins of AccountAuth and DrainGate.
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError, newRequestId, signRequest, type Logger } from '@switchyard/shared';
import type { FakeAnthropic, IssuedOAuthCredentials } from '@switchyard/shared/testing';
import { createNodeApp, type NodeAppDeps } from '../app.js';
import type { AccountAuth } from '../credentials/account-auth.js';
import type { DrainGate } from '../fleet/drain.js';
import { createEgress } from '../upstream/egress.js';

export const TEST_SECRET = 'test-secret-'.padEnd(40, 'x');
export const TEST_NODE_ID = 'node-test-1';

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
  return { ...auth, status: () => 'ok', label: () => 'test', start: async () => {}, stop: async () => {}, onStatusChange: () => () => {} };
}

/** An API-key account. */
export function apiKeyAuth(key: string): AccountAuth {
  return base({ kind: 'api_key', credentialHeaders: () => Promise.resolve({ headers: { 'x-api-key': key }, token: key }), refreshAfterUnauthorized: () => Promise.resolve(false) });
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
      credentialHeaders: () => Promise.resolve({ headers: { authorization: `Bearer ${current.accessToken}` }, token: current.accessToken }),
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
  const unavailable = () => Promise.reject(new AppError('unavailable', 'This node needs a login: run the login command.'));
  return { ...base({ kind: 'oauth', credentialHeaders: unavailable, refreshAfterUnauthorized: () => Promise.resolve(false) }), status: () => 'needs_login' };
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
export function captureLogger(lines: LogLine[] = [], fields: Record<string, unknown> = {}): Logger & { lines: LogLine[] } {
  const at = (level: string) => (message: string, meta: Record<string, unknown> = {}) => void lines.push({ level, message, meta: { ...fields, ...meta } });
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: (more) => captureLogger(lines, { ...fields, ...more }) };
}

/** A running node app plus what it reported. */
export interface TestNode {
  url: string;
  gate: ReturnType<typeof countingGate>;
  log: ReturnType<typeof captureLogger>;
  responses: { status: number; headers: IncomingHttpHeaders; model: string | undefined }[];
  close(): Promise<void>;
}

/** Starts a node app in front of `upstreamUrl`. */
export async function startNode(upstreamUrl: string, over: Partial<NodeAppDeps> & { auth: AccountAuth }): Promise<TestNode> {
  const gate = countingGate();
  const log = captureLogger();
  const responses: TestNode['responses'] = [];
  const egress = over.egress ?? createEgress();
  const deps: NodeAppDeps = {
    nodeId: TEST_NODE_ID,
    sharedSecret: TEST_SECRET,
    anthropicBaseUrl: new URL(upstreamUrl),
    maxBodyBytes: 1024 * 1024,
    egress,
    gate,
    log,
    onUpstreamResponse: (status, headers, model) => void responses.push({ status, headers, model }),
    health: () => ({ status: 'ok', nodeId: TEST_NODE_ID }),
    ...over,
  };
  const server = http.createServer(createNodeApp(deps));
  const url = await listen(server);
  return {
    url,
    gate,
    log,
    responses,
    close: async () => {
      await closeServer(server);
      egress.destroy();
    },
  };
}

/** How a test call is made; `sign: false` sends it unsigned, `sign` overrides signed fields, `sendBody` tampers. */
export interface CallOptions {
  method?: string;
  path?: string;
  body?: Buffer | string | object;
  headers?: OutgoingHttpHeaders;
  sign?: false | { nodeId?: string; timestampMs?: number; nonce?: string; path?: string; requestId?: string };
  sendBody?: Buffer;
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

/** The headers a signed call carries (exported for replay tests). */
export function signedHeaders(opts: CallOptions, body: Buffer): Record<string, string> {
  if (opts.sign === false) return {};
  const s = opts.sign ?? {};
  return signRequest(TEST_SECRET, {
    method: opts.method ?? 'POST',
    path: s.path ?? opts.path ?? '/v1/messages',
    nodeId: s.nodeId ?? TEST_NODE_ID,
    keyId: 'key_test',
    requestId: s.requestId ?? newRequestId(),
    body,
    ...(s.timestampMs === undefined ? {} : { timestampMs: s.timestampMs }),
    ...(s.nonce === undefined ? {} : { nonce: s.nonce }),
  });
}

/** Makes one HTTP call over a fresh connection and reads the whole answer. */
export function call(baseUrl: string, opts: CallOptions = {}, presigned?: Record<string, string>): Promise<CallResult> {
  const body = bodyBytes(opts.body);
  const wire = opts.sendBody ?? body;
  const headers = { 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...opts.headers, ...(presigned ?? signedHeaders(opts, body)) };
  return new Promise((resolve, reject) => {
    const req = http.request(`${baseUrl}${opts.path ?? '/v1/messages'}`, { method: opts.method ?? 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    opts.onRequest?.(req);
    req.end(wire.length > 0 ? wire : undefined);
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
export async function startTap(upstreamUrl: string): Promise<{ url: string; records: TapRecord[]; close(): Promise<void> }> {
  const records: TapRecord[] = [];
  const server = http.createServer((req, res) => {
    const reqChunks: Buffer[] = [];
    req.on('data', (c: Buffer) => reqChunks.push(c));
    req.on('end', () => {
      const requestBody = Buffer.concat(reqChunks);
      const up = http.request(`${upstreamUrl}${req.url ?? '/'}`, { method: req.method, headers: req.headers, agent: false }, (upRes) => {
        const record: TapRecord = { url: req.url ?? '', headers: req.headers, requestBody, status: upRes.statusCode ?? 0, responseHeaders: upRes.rawHeaders, responseBody: Buffer.alloc(0) };
        const chunks: Buffer[] = [];
        res.writeHead(upRes.statusCode ?? 502, upRes.rawHeaders.filter((_, i, all) => !/^(connection|keep-alive|transfer-encoding)$/i.test(all[i - (i % 2)] ?? '')));
        upRes.on('data', (c: Buffer) => {
          chunks.push(c);
          res.write(c);
        });
        upRes.on('end', () => {
          record.responseBody = Buffer.concat(chunks);
          records.push(record);
          res.end();
        });
      });
      res.on('close', () => up.destroy());
      up.on('error', () => res.destroy());
      up.end(requestBody);
    });
  });
  const url = await listen(server);
  return { url, records, close: () => closeServer(server) };
}
