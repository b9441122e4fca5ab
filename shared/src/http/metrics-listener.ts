// METRICS_PORT's listener, started the same way by every process: a port that cannot be opened turns metrics off
// with one error line naming the fix, and the process carries on (its work matters more than its scrapes).
import http from 'node:http';
import { errorCode } from '../errors/error-code.js';
import type { Logger } from '../logging/create-logger.js';

/** Where and what the metrics listener serves. */
export interface MetricsListenerOptions {
  /** What it answers: metricsOnlyListener(handler), or a listener that also answers /health (the usage worker's). */
  listener: http.RequestListener;
  port: number;
  host: string;
  log: Logger;
}

/**
 * Listens on host:port; resolves to the server, or to undefined (after an error line) when the port cannot be opened.
 * @example
 * const server = await startMetricsListener({ listener: metricsOnlyListener(handle), port: plan.port, host, log });
 * log.info('started', { metrics: server ? describeMetrics(plan, host) : 'off (its port could not be opened)' });
 */
export function startMetricsListener(opts: MetricsListenerOptions): Promise<http.Server | undefined> {
  const server = http.createServer(opts.listener);
  return new Promise((resolve) => {
    server.once('error', (err) => {
      opts.log.error('metrics listener not started', {
        host: opts.host,
        port: opts.port,
        errorCode: errorCode(err),
        fix: 'set METRICS_PORT to a free port, or 0 to turn metrics off',
      });
      resolve(undefined);
    });
    server.listen(opts.port, opts.host, () => resolve(server));
  });
}
