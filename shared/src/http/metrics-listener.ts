// METRICS_PORT's listener, started the same way by every process: a port that cannot be opened turns metrics off
// with one error line naming the fix, and the process carries on (its work matters more than its scrapes).
import http from 'node:http';
import { describeMetrics, type MetricsExposure } from '../config/metrics-exposure.js';
import { errorCode } from '../errors/error-code.js';
import type { Logger } from '../logging/create-logger.js';
import { metricsOnlyListener } from './metrics-endpoint.js';

/** What answers GET /metrics (createMetricsHandler's answer). */
export type MetricsRequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Where and what the metrics listener serves. */
export interface MetricsListenerOptions {
  /** planMetrics' answer: a listener is started only when it says `own`. */
  exposure: MetricsExposure;
  /** The /metrics handler (undefined when the exposure is off). */
  handler: MetricsRequestHandler | undefined;
  /** What the listener answers around the handler. Default metricsOnlyListener; the usage worker's adds /health. */
  listener?: (handler: MetricsRequestHandler) => http.RequestListener;
  host: string;
  /** The process's main port, named in the description when /metrics is served there. */
  mainPort?: number;
  log: Logger;
}

/** The listener if one was started, and how the process's start line describes its /metrics. */
export interface MetricsListening {
  server: http.Server | undefined;
  description: string;
}

/**
 * Starts the METRICS_PORT listener when the exposure asks for one; resolves without a server (after an error line,
 * the description saying metrics are off) when its port cannot be opened.
 * @example
 * const metricsListening = await startMetricsListener({ exposure, handler, host: config.HOST, mainPort: config.PORT, log });
 * log.info('started', { metrics: metricsListening.description });
 */
export async function startMetricsListener(opts: MetricsListenerOptions): Promise<MetricsListening> {
  const { exposure, handler, host, log } = opts;
  const description = describeMetrics(exposure, host, opts.mainPort);
  if (exposure.where !== 'own' || handler === undefined) return { server: undefined, description };
  const server = http.createServer((opts.listener ?? metricsOnlyListener)(handler));
  const started = await new Promise<boolean>((resolve) => {
    server.once('error', (err) => {
      log.error('metrics listener not started', {
        host,
        port: exposure.port,
        errorCode: errorCode(err),
        fix: 'set METRICS_PORT to a free port, or 0 to turn metrics off',
      });
      resolve(false);
    });
    server.listen(exposure.port, host, () => resolve(true));
  });
  return started ? { server, description } : { server: undefined, description: 'off (its port could not be opened)' };
}
