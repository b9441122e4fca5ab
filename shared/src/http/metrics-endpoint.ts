// GET /metrics for every process: the Prometheus text of its registry, behind a Bearer token when it has one.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { newRequestId } from '../errors/anthropic-error.js';
import { AppError } from '../errors/app-error.js';
import { writeErrorResponse } from '../errors/write-error.js';
import { bearerToken } from './bearer-token.js';

/** What a metrics registry offers (prom-client's Registry has this shape). */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Options of {@link createMetricsHandler}. */
export interface MetricsHandlerOptions {
  source: MetricsSource;
  /** Required as `Authorization: Bearer <token>`; none: open (a port only the scraper reaches). */
  token?: string;
  /** The variable the token comes from, named in the 401's message. */
  tokenVariable?: string;
  /** Told about a scrape that failed to render (the scraper gets a 500 envelope). */
  onError?(err: unknown): void;
}

const sha256 = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/**
 * Answers one request for /metrics (the caller routes it here). Both token sides are hashed before a
 * constant-time compare; a wrong or missing token gets 401 in the Anthropic error envelope.
 * @example
 * const handle = createMetricsHandler({ source: registry, token: config.METRICS_TOKEN, tokenVariable: 'METRICS_TOKEN' });
 * if (path === '/metrics') return handle(req, res);
 */
export function createMetricsHandler(opts: MetricsHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  const expected = opts.token === undefined ? undefined : sha256(opts.token);
  const variable = opts.tokenVariable ?? 'METRICS_TOKEN';
  return function metricsHandler(req, res) {
    const requestId = newRequestId();
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      writeErrorResponse(res, new AppError('not_found', `Not found: ${req.method ?? ''} /metrics`), requestId);
      return;
    }
    if (expected !== undefined) {
      const token = bearerToken(req.headers.authorization);
      if (token === undefined || !timingSafeEqual(expected, sha256(token))) {
        const message =
          token === undefined
            ? `Missing metrics token: send Authorization: Bearer <${variable}>`
            : 'Invalid metrics token';
        writeErrorResponse(res, new AppError('unauthenticated', message), requestId);
        return;
      }
    }
    opts.source.metrics().then(
      (text) => {
        res.writeHead(200, {
          'content-type': opts.source.contentType,
          'cache-control': 'no-store',
          'content-length': Buffer.byteLength(text),
        });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        opts.onError?.(err);
        writeErrorResponse(res, err, requestId);
      },
    );
  };
}

/** A listener of its own for METRICS_PORT: /metrics, and 404 in the envelope for anything else. */
export function metricsOnlyListener(handle: (req: IncomingMessage, res: ServerResponse) => void): RequestListener {
  return function metricsListener(req, res) {
    const url = req.url ?? '/';
    const path = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
    if (path === '/metrics') return handle(req, res);
    writeErrorResponse(res, new AppError('not_found', `Not found: ${req.method ?? ''} ${path}`), newRequestId());
  };
}
