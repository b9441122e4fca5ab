// Starting the OpenTelemetry SDK. The SDK and its OTLP exporter are imported here, dynamically, and only when
// tracing is on: a process without a collector never loads them (test/chain/tracing-off.int.test.ts shows it).
// Only `@opentelemetry/api` is loaded either way; with no provider registered its tracer is a no-op.
import { withDeadline } from '../async/index.js';
import { isErrorCode, type Logger } from '../logging/index.js';

/** A started (or never started) tracing SDK. */
export interface Tracing {
  readonly enabled: boolean;
  /** Exports what is buffered and stops: call last at shutdown. */
  shutdown(): Promise<void>;
}

export const NO_TRACING: Tracing = { enabled: false, shutdown: () => Promise.resolve() };

export interface StartTracingOptions {
  /** service.name unless OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES names one. */
  serviceName: string;
  /** service.version: the build's version. */
  serviceVersion: string | undefined;
  /** service.instance.id: the replica's GATEWAY_ID, the node's NODE_ID, the worker's host name. */
  instanceId?: string;
  log: Logger;
}

// Shutdown exports what is buffered; a collector that is down must not hold the process's exit for the exporter's
// own timeout (10 s) on top of its drain: past this the rest is dropped.
const SHUTDOWN_DEADLINE_MS = 5_000;

// A diagnostic's text in the log is cut to this many characters: the exporter's error carries the collector's whole
// answer, which is the collector's to size, not ours.
const DETAIL_LENGTH_LIMIT = 500;

/**
 * What a tracing problem says in the log: an error's name, message and code (an exporter's error holds the HTTP
 * status the collector answered; shown only when shaped like one, isErrorCode), never the collector's answer body,
 * cut to DETAIL_LENGTH_LIMIT. A string (a diagnostic message) is only cut.
 * @example problemDetail(exporterError) // 'OTLPExporterError: Not Found (404)'
 */
function problemDetail(problem: unknown): string {
  if (typeof problem !== 'object' || problem === null) return String(problem).slice(0, DETAIL_LENGTH_LIMIT);
  const { name, message, code } = problem as { name?: unknown; message?: unknown; code?: unknown };
  const head = typeof name === 'string' ? `${name}: ` : '';
  const text = typeof message === 'string' ? message : '(no message)';
  const suffix = isErrorCode(code) ? ` (${String(code)})` : '';
  return `${head}${text}${suffix}`.slice(0, DETAIL_LENGTH_LIMIT);
}

// Attribute values are cut to this many characters: a model name or a user agent is client text, and one of
// 32 MiB would fill the batch queue and the export (the SDK's default is no limit).
export const ATTRIBUTE_VALUE_LENGTH_LIMIT = 256;

// The SDK's own diagnostics (an export the collector refused, a bad variable) go to our log as warnings, at most
// one a minute: a collector that is down must not flood the log, and the request path never waits on it.
const DIAG_LOG_INTERVAL_MS = 60_000;

/**
 * Registers a tracer provider (batching spans to the OTLP/HTTP exporter, which reads the OTEL_EXPORTER_OTLP_*
 * variables), the W3C trace-context propagator (no baggage) and the async-hooks context manager. Sampler and
 * resource come from the standard variables; service.name defaults to `serviceName`.
 * @example
 * const tracing = config.tracing.enabled ? await startTracing({ serviceName: 'switchyard-gateway', serviceVersion, log }) : NO_TRACING;
 */
export async function startTracing(opts: StartTracingOptions): Promise<Tracing> {
  const [api, node, base, otlp, resources, core] = await Promise.all([
    import('@opentelemetry/api'),
    import('@opentelemetry/sdk-trace-node'),
    import('@opentelemetry/sdk-trace-base'),
    import('@opentelemetry/exporter-trace-otlp-http'),
    import('@opentelemetry/resources'),
    import('@opentelemetry/core'),
  ]);
  let lastDiagAt = -Infinity;
  const warn = (level: string, problem: unknown): void => {
    const now = performance.now();
    if (now - lastDiagAt < DIAG_LOG_INTERVAL_MS) return;
    lastDiagAt = now;
    opts.log.warn('tracing problem', { level, detail: problemDetail(problem) });
  };
  api.diag.setLogger(
    {
      error: (message) => warn('error', message),
      warn: (message) => warn('warn', message),
      info: () => {},
      debug: () => {},
      verbose: () => {},
    },
    api.DiagLogLevel.WARN,
  );
  // A failed export reaches the SDK's global error handler, whose default writes the whole error, the collector's
  // answer body included, to diag as one JSON string: here it gets the error itself.
  core.setGlobalErrorHandler((err) => warn('error', err));
  const defaults = resources.resourceFromAttributes({
    'service.name': opts.serviceName,
    ...(opts.serviceVersion === undefined ? {} : { 'service.version': opts.serviceVersion }),
    ...(opts.instanceId === undefined ? {} : { 'service.instance.id': opts.instanceId }),
  });
  const resource = defaults.merge(resources.detectResources({ detectors: [resources.envDetector] }));
  const provider = new node.NodeTracerProvider({
    resource,
    spanLimits: { attributeValueLengthLimit: ATTRIBUTE_VALUE_LENGTH_LIMIT },
    spanProcessors: [new base.BatchSpanProcessor(new otlp.OTLPTraceExporter())],
  });
  provider.register({ propagator: new core.W3CTraceContextPropagator() });
  return {
    enabled: true,
    shutdown: async () => {
      try {
        await withDeadline(provider.shutdown(), SHUTDOWN_DEADLINE_MS, 'tracing shutdown');
      } catch (err) {
        opts.log.warn('tracing shutdown failed', { detail: problemDetail(err) });
      }
    },
  };
}
