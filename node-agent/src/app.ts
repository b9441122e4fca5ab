import type { IncomingHttpHeaders, RequestListener, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  AppError,
  ForwardHeaders,
  type Logger,
  newRequestId,
  readBoundedBody,
  writeErrorResponse,
} from '@switchyard/shared';
import type { AccountAuth } from './credentials/account-auth.js';
import type { DrainGate } from './fleet/drain.js';
import type { NodeMetrics } from './metrics/index.js';
import { pathOf, routeOf } from './http/routes.js';
import type { UpstreamTimeouts } from './upstream/deadlines.js';
import type { Egress } from './upstream/egress.js';
import { createForwarder, type ForwardStats } from './upstream/forward.js';

/** Everything the forwarding app needs; main.ts builds them. */
export interface NodeAppDeps {
  anthropicBaseUrl: URL;
  maxBodyBytes: number;
  egress: Egress;
  auth: AccountAuth;
  gate: DrainGate;
  log: Logger;
  /** Called with every upstream response's status and headers (before the body), for the account state. */
  onUpstreamResponse(status: number, headers: IncomingHttpHeaders, model: string | undefined): void;
  /** Where each request's outcome is counted (none: not measured). */
  metrics?: Pick<NodeMetrics, 'request'>;
  /** Connect and response-head limits on requests to Anthropic (default: DEFAULT_UPSTREAM_TIMEOUTS). */
  upstreamTimeouts?: UpstreamTimeouts;
}

const MAX_FORWARD_HEADER_LENGTH = 128;

const NOT_FOUND = new AppError('not_found', 'Not found.');
const DRAINING = new AppError('unavailable', 'This node is draining; send the request to another node.', {
  anthropicType: 'overloaded_error',
});
const TOO_LARGE = new AppError('body_too_large', 'Request exceeds the maximum allowed number of bytes.');

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

/** An informational header the gateway adds (request id, key id): one value, printable, bounded. */
function forwardHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_FORWARD_HEADER_LENGTH &&
    /^[\x21-\x7e]+$/.test(value)
    ? value
    : undefined;
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
 * The forwarding app: the node's request listener for client requests, served only on the tunnel's connection
 * streams (only an authenticated gateway reaches it, so it checks no signature). A draining node answers 503
 * so the gateway fails over.
 *
 * @example
 * const connections = http.createServer(createNodeApp(deps)); // never listens: the tunnel hands it streams
 */
export function createNodeApp(deps: NodeAppDeps): RequestListener {
  const { anthropicBaseUrl, egress, auth, log } = deps;
  const onUpstreamResponse: NodeAppDeps['onUpstreamResponse'] = (status, headers, model) =>
    deps.onUpstreamResponse(status, headers, model);
  const forward = createForwarder({
    anthropicBaseUrl,
    egress,
    auth,
    log,
    onUpstreamResponse,
    ...(deps.upstreamTimeouts === undefined ? {} : { timeouts: deps.upstreamTimeouts }),
  });

  async function admit(req: Parameters<RequestListener>[0], res: ServerResponse, entry: AccessEntry): Promise<void> {
    const body = await readBoundedBody(req, deps.maxBodyBytes);
    if (body === undefined) {
      res.setHeader('connection', 'close');
      return writeErrorResponse(res, TOO_LARGE, entry.requestId);
    }
    entry.requestBytes = body.length;
    await forward({ req, res, body, requestId: entry.requestId, startedAt: entry.startedAt, stats: entry.stats });
  }

  return function nodeApp(req, res) {
    const path = pathOf(req.url ?? '/');
    const route = routeOf(req.method, path);
    const entry: AccessEntry = {
      requestId: forwardHeader(req.headers, ForwardHeaders.requestId) ?? newRequestId(),
      keyId: forwardHeader(req.headers, ForwardHeaders.keyId),
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
