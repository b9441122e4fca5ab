// METRICS_PORT's listener, started the same way by every process: a port that cannot be opened turns metrics off
// with one error line naming the fix, and the process carries on (its work matters more than its scrapes).
import http from 'node:http';
import { describeMetrics, planMetrics, type MetricsExposure } from '../config/metrics-exposure.js';
import { errorCode } from '../errors/error-code.js';
import type { Logger } from '../logging/create-logger.js';
import { createMetricsHandler, metricsOnlyListener, type MetricsSource } from './metrics-endpoint.js';

/** What answers GET /metrics (createMetricsHandler's answer). */
export type MetricsRequestHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** How a process serves /metrics, decided once at start. */
export interface MetricsEndpoint {
  /** planMetrics' answer for METRICS_PORT and METRICS_TOKEN. */
  exposure: MetricsExposure;
  /** The /metrics handler, behind the token the exposure names; undefined when metrics are off. */
  handler: MetricsRequestHandler | undefined;
  /** The handler when /metrics shares the main listener (hand it to the app), else undefined. */
  onMainListener: MetricsRequestHandler | undefined;
}

/**
 * Plans /metrics from METRICS_PORT and METRICS_TOKEN and builds its handler over the process's registry; a scrape
 * that fails to render is logged as 'metrics scrape failed'.
 * @example
 * const endpoint = createMetricsEndpoint({ port: config.METRICS_PORT, token: config.METRICS_TOKEN, source: registry, log });
 * createApp({ …, metricsHandler: endpoint.onMainListener });
 * const metricsListening = await startMetricsListener({ ...endpoint, host: config.HOST, mainPort: config.PORT, log });
 */
export function createMetricsEndpoint(opts: {
  port: number | undefined;
  token: string | undefined;
  source: MetricsSource;
  log: Logger;
}): MetricsEndpoint {
  const exposure = planMetrics({ port: opts.port, token: opts.token });
  const handler =
    exposure.where === 'off'
      ? undefined
      : createMetricsHandler({
          source: opts.source,
          ...(exposure.token === undefined ? {} : { token: exposure.token }),
          ...(exposure.tokenVariable === undefined ? {} : { tokenVariable: exposure.tokenVariable }),
          onError: (err) => opts.log.error('metrics scrape failed', { err }),
        });
  return { exposure, handler, onMainListener: exposure.where === 'main' ? handler : undefined };
}

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
