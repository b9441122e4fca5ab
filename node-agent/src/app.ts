import type { IncomingHttpHeaders, IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  AppError,
  createNonceCache,
  type Logger,
  newRequestId,
  readBoundedBody,
  type SignatureCheck,
  SignatureHeaders,
  verifyRequest,
  writeErrorResponse,
} from '@switchyard/shared';
import type { AccountAuth } from './credentials/account-auth.js';
import type { DrainGate } from './fleet/drain.js';
import type { NodeMetrics } from './metrics/index.js';
import { pathOf, routeOf } from './http/routes.js';
import type { Egress } from './upstream/egress.js';
import { createForwarder, type ForwardStats } from './upstream/forward.js';

/** Everything the node's HTTP surface needs; main.ts builds them. */
export interface NodeAppDeps {
  nodeId: string;
  sharedSecret: string;
  anthropicBaseUrl: URL;
  maxBodyBytes: number;
  egress: Egress;
  auth: AccountAuth;
  gate: DrainGate;
  log: Logger;
  /** Called with every upstream response's status and headers (before the body), for the account state. */
  onUpstreamResponse(status: number, headers: IncomingHttpHeaders, model: string | undefined): void;
  /** The /health body (no secrets); its status reads `draining` (503) once the gate drains. */
  health(): Record<string, unknown>;
  /** Clock for the signature's skew check (tests). */
  now?: () => number;
  /** Where each request's outcome is counted (none: not measured). */
  metrics?: Pick<NodeMetrics, 'request' | 'signatureRefused'>;
  /** GET /metrics on this listener, answered before (and apart from) the signature gate; none: 404. */
  metricsHandler?: (req: IncomingMessage, res: ServerResponse) => void;
}

// Twice the ±60 s skew window: a nonce is remembered for as long as its timestamp could pass.
const NONCE_TTL_MS = 120_000;
const MAX_REQUEST_ID_LENGTH = 128;

const NOT_FOUND = new AppError('not_found', 'Not found.');
const DRAINING = new AppError('unavailable', 'This node is draining; send the request to another node.', { anthropicType: 'overloaded_error' });
const TOO_LARGE = new AppError('body_too_large', 'Request exceeds the maximum allowed number of bytes.');
const UNSIGNED = new AppError('unauthenticated', 'Only the Switchyard gateway may call this node.');

/** One line per request, filled in as the request goes. */
interface AccessEntry {
  requestId: string;
  keyId: string | undefined;
  method: string;
  path: string;
  startedAt: number;
  requestBytes: number;
  stats: ForwardStats;
  route: string;
}

function gatewayRequestId(headers: IncomingHttpHeaders): string | undefined {
  const value = headers[SignatureHeaders.requestId];
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_REQUEST_ID_LENGTH ? value : undefined;
}

/** 200 with the body; 503 with `status: 'draining'` once the node drains, so nothing health-checks it as serving. */
function sendHealth(res: ServerResponse, body: Record<string, unknown>, draining: boolean): void {
  const json = JSON.stringify(draining ? { ...body, status: 'draining' } : body);
  res.writeHead(draining ? 503 : 200, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

const ms = (value: number): number => Math.round(value * 100) / 100;

function logDone(log: Logger, e: AccessEntry, res: ServerResponse, metrics: NodeAppDeps['metrics']): void {
  metrics?.request(e.route, res.headersSent ? res.statusCode : 499, performance.now() - e.startedAt, e.stats.ttfbMs);
  log.info('request done', {
    requestId: e.requestId,
    keyId: e.keyId,
    method: e.method,
    path: e.path,
    status: res.headersSent ? res.statusCode : undefined,
    aborted: !res.writableFinished,
    durationMs: ms(performance.now() - e.startedAt),
    ttfbMs: e.stats.ttfbMs === undefined ? undefined : ms(e.stats.ttfbMs),
    bytes: e.stats.bytes,
    requestBytes: e.requestBytes,
    replayed: e.stats.replayed,
    upstreamRequestId: e.stats.upstreamRequestId,
  });
}

function clientPresent(res: ServerResponse): boolean {
  return !res.writableEnded && res.socket !== null && !res.socket.destroyed;
}

/**
 * The node's request listener (raw node:http: the node sits on the hot path and has three routes).
 * Only gateway-signed requests reach Anthropic; a draining node answers 503 so the gateway fails over.
 *
 * @example
 * const server = http.createServer(createNodeApp(deps)); server.listen(config.PORT, config.HOST);
 */
export function createNodeApp(deps: NodeAppDeps): RequestListener {
  const nonces = createNonceCache(NONCE_TTL_MS);
  const now = deps.now ?? Date.now;
  const { anthropicBaseUrl, egress, auth, log } = deps;
  const onUpstreamResponse: NodeAppDeps['onUpstreamResponse'] = (status, headers, model) => deps.onUpstreamResponse(status, headers, model);
  const forward = createForwarder({ anthropicBaseUrl, egress, auth, log, onUpstreamResponse });

  function verify(req: IncomingMessage, body: Buffer): SignatureCheck {
    try {
      const request = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      return verifyRequest(deps.sharedSecret, request, { nodeId: deps.nodeId, nonces, nowMs: now() });
    } catch {
      // verifyRequest checks formats itself; should it ever throw, the request is still refused.
      return { ok: false, reason: 'malformed' };
    }
  }

  function refuse(res: ServerResponse, entry: AccessEntry, reason: string): void {
    log.warn('gateway signature refused', { requestId: entry.requestId, reason, path: entry.path });
    deps.metrics?.signatureRefused(reason);
    writeErrorResponse(res, UNSIGNED, entry.requestId);
  }

  async function admit(req: IncomingMessage, res: ServerResponse, entry: AccessEntry): Promise<void> {
    // Unsigned callers do not get to make the node buffer a body first.
    if (req.headers[SignatureHeaders.signature] === undefined) return refuse(res, entry, 'missing');
    const body = await readBoundedBody(req, deps.maxBodyBytes);
    if (body === undefined) {
      res.setHeader('connection', 'close');
      return writeErrorResponse(res, TOO_LARGE, entry.requestId);
    }
    entry.requestBytes = body.length;
    const check = verify(req, body);
    if (!check.ok) return refuse(res, entry, check.reason);
    entry.keyId = check.keyId;
    await forward({ req, res, body, requestId: entry.requestId, startedAt: entry.startedAt, stats: entry.stats });
  }

  return function nodeApp(req, res) {
    const path = pathOf(req.url ?? '/');
    // Exactly /metrics, nothing under it: every other path still meets the signature gate.
    if (path === '/metrics' && deps.metricsHandler) return deps.metricsHandler(req, res);
    const route = routeOf(req.method, path);
    if (route === 'health') return sendHealth(res, deps.health(), deps.gate.draining);
    const entry: AccessEntry = {
      requestId: gatewayRequestId(req.headers) ?? newRequestId(),
      keyId: undefined,
      method: req.method ?? '',
      path,
      startedAt: performance.now(),
      requestBytes: 0,
      stats: { ttfbMs: undefined, bytes: 0, replayed: false, upstreamRequestId: undefined },
      route: route ?? 'unknown',
    };
    res.once('close', () => logDone(log, entry, res, deps.metrics));
    if (route === undefined) return writeErrorResponse(res, NOT_FOUND, entry.requestId);
    if (!deps.gate.tryEnter()) return writeErrorResponse(res, DRAINING, entry.requestId);
    res.once('close', () => deps.gate.leave());
    admit(req, res, entry).catch((err: unknown) => {
      if (!clientPresent(res)) return;
      if (!(err instanceof AppError)) log.error('request failed', { requestId: entry.requestId, err });
      writeErrorResponse(res, err, entry.requestId);
    });
  };
}
