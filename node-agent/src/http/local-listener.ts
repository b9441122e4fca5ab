// The node's own listener (HOST:PORT, loopback by default): /health and /metrics, nothing that reaches Anthropic.
// Client requests arrive only through the tunnel.
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { AppError, newRequestId, writeErrorResponse } from '@switchyard/shared';
import { pathOf } from './routes.js';

export interface LocalListenerDeps {
  /** The /health body (no secrets); its status reads `draining` (503) once the node drains. */
  health(): Record<string, unknown>;
  draining(): boolean;
  /** GET /metrics; none: 404. */
  metricsHandler?: (req: IncomingMessage, res: ServerResponse) => void;
}

const NOT_FOUND = new AppError(
  'not_found',
  'Not found. This listener serves /health and /metrics; requests reach this node through its tunnel to the gateway.',
);

/**
 * @example
 * http.createServer(createLocalListener({ health, draining: () => gate.draining, metricsHandler })).listen(config.PORT, config.HOST);
 */
export function createLocalListener(deps: LocalListenerDeps): RequestListener {
  return function localListener(req, res) {
    const path = pathOf(req.url ?? '/');
    if (path === '/metrics' && deps.metricsHandler) return deps.metricsHandler(req, res);
    if (path === '/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      const draining = deps.draining();
      const body = deps.health();
      const json = JSON.stringify(draining ? { ...body, status: 'draining' } : body);
      res.writeHead(draining ? 503 : 200, {
        'content-type': 'application/json',
        'cache-control': 'no-store',
        'content-length': Buffer.byteLength(json),
      });
      res.end(req.method === 'HEAD' ? undefined : json);
      return;
    }
    writeErrorResponse(res, NOT_FOUND, newRequestId());
  };
}
