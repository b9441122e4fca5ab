// Run by shared/src/tracing/start-tracing.int.test.ts as a process of its own, with only the environment it is
// given (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...): what a gateway, node-agent or worker does
// with tracing on, startTracing with the JSON log at debug, one span, then the shutdown that exports it. Prints the
// span's ids as its last line. A process, not the test's own: the exporter loads node:http with a dynamic import(),
// which jest's CommonJS sandbox refuses.
//   node --conditions=source --import tsx export-through-start-tracing.ts
import { createLogger, startTracing, switchyardTracer } from '@switchyard/shared';

async function main(): Promise<void> {
  const log = createLogger({ service: 'start-tracing-test', level: 'debug' });
  const tracing = await startTracing({ serviceName: 'start-tracing-test', serviceVersion: '0.0.0', log });
  const span = switchyardTracer().startSpan('sample');
  span.end();
  await tracing.shutdown();
  const { traceId, spanId } = span.spanContext();
  process.stdout.write(`${JSON.stringify({ traceId, spanId })}\n`);
}

await main();
