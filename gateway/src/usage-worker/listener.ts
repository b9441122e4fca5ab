// The usage worker's only listener (METRICS_PORT): GET /metrics for the scraper, and GET /health, which
// needs no token and carries no data, for the image's health check and for an operator asking which build runs.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { metricsOnlyListener } from '@switchyard/shared';

/** What the worker's listener needs. */
export interface WorkerListenerDeps {
  /** Answers /metrics (the shared handler, behind METRICS_TOKEN when set). */
  metrics: (req: IncomingMessage, res: ServerResponse) => void;
  version: string;
  gitSha: string;
  /** True once SIGTERM arrived: /health answers 503 `stopping` while active jobs finish. */
  stopping(): boolean;
}

/**
 * @example
 * http.createServer(createWorkerListener({ metrics: handler, version, gitSha, stopping: () => stopping }));
 */
export function createWorkerListener(deps: WorkerListenerDeps): RequestListener {
  const others = metricsOnlyListener(deps.metrics);
  return function workerListener(req, res) {
    const url = req.url ?? '/';
    const path = url.includes('?') ? url.slice(0, url.indexOf('?')) : url;
    if (path !== '/health' || (req.method !== 'GET' && req.method !== 'HEAD')) return others(req, res);
    const stopping = deps.stopping();
    const body = JSON.stringify({ status: stopping ? 'stopping' : 'ok', version: deps.version, gitSha: deps.gitSha });
    res.writeHead(stopping ? 503 : 200, {
      'content-type': 'application/json',
      'cache-control': 'no-store',
      'content-length': Buffer.byteLength(body),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
