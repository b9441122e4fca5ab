// The access line: one per request, filled in as the request goes (app.ts) and written when its response closes.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Logger } from '@switchyard/shared';
import type { NodeMetrics } from '../metrics/index.js';
import type { NodeRoute } from './routes.js';

const MAX_FORWARD_HEADER_LENGTH = 128;

/** What one forwarded request did, for the access log line. */
export interface ForwardStats {
  /** Ms from the request's start to the upstream response that was relayed. */
  ttfbMs: number | undefined;
  /** Response body bytes relayed from upstream. */
  bytes: number;
  /** True when a 401 led to a refresh and one replay. */
  replayed: boolean;
  upstreamRequestId: string | undefined;
}

/** One line per request, filled in as the request goes. */
export interface AccessEntry {
  requestId: string;
  keyId: string | undefined;
  method: string;
  path: string;
  route: NodeRoute | undefined;
  /** performance.now() when the request arrived. */
  startedAt: number;
  requestBytes: number;
  stats: ForwardStats;
  /** The request's trace (its server span's), while tracing is on. */
  traceId: string | undefined;
}

/** An informational header the gateway adds (request id, key id): one value, printable, bounded. */
export function forwardHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return typeof value === 'string' &&
    value.length > 0 &&
    value.length <= MAX_FORWARD_HEADER_LENGTH &&
    /^[\x21-\x7e]+$/.test(value)
    ? value
    : undefined;
}

const ms = (value: number): number => Math.round(value * 100) / 100;

/** When the response closes: the access line and the request's metrics. */
export function logRequestDone(
  deps: { log: Logger; metrics?: Pick<NodeMetrics, 'request'> | undefined },
  e: AccessEntry,
  res: ServerResponse,
): void {
  const route = e.route ?? 'unknown';
  deps.metrics?.request(route, res.headersSent ? res.statusCode : 499, performance.now() - e.startedAt, e.stats.ttfbMs);
  deps.log.info('request done', {
    requestId: e.requestId,
    traceId: e.traceId,
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
