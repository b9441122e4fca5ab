// Run by shared/src/tracing/start-tracing.int.test.ts as a process of its own, with only the environment it is
// given (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_HEADERS, ...): what a gateway, node-agent or worker does
// with tracing on, startTracing with the JSON log at debug, one span, then the shutdown that exports it. Prints the
// span's ids as its last line. A process, not the test's own: the exporter loads node:http with a dynamic import(),
// which jest's CommonJS sandbox refuses. With --wait-for-problem it shuts down only once it has logged a
// `tracing problem` (a scheduled export that failed, as in a long-running process; set OTEL_BSP_SCHEDULE_DELAY low),
// giving up after 30 s.
//   node --conditions=source --import tsx export-through-start-tracing.ts [--wait-for-problem]
import { createLogger, startTracing, switchyardTracer, type Logger } from '@switchyard/shared';

/** `log`, with a promise settled by its first `tracing problem` warning. */
function watchProblems(log: Logger): { log: Logger; problem: Promise<void> } {
  let seen: () => void = () => undefined;
  const problem = new Promise<void>((resolve) => (seen = resolve));
  const watched: Logger = {
    ...log,
    warn: (message, meta) => {
      log.warn(message, meta);
      if (message === 'tracing problem') seen();
    },
  };
  return { log: watched, problem };
}

async function main(): Promise<void> {
  const watched = watchProblems(createLogger({ service: 'start-tracing-test', level: 'debug' }));
  const log = watched.log;
  const tracing = await startTracing({ serviceName: 'start-tracing-test', serviceVersion: '0.0.0', log });
  const span = switchyardTracer().startSpan('sample');
  span.end();
  if (process.argv.includes('--wait-for-problem')) {
    const giveUp = setTimeout(() => {
      process.stderr.write('no tracing problem was logged in 30 s\n');
      process.exit(1);
    }, 30_000);
    await watched.problem;
    clearTimeout(giveUp);
  }
  await tracing.shutdown();
  const { traceId, spanId } = span.spanContext();
  process.stdout.write(`${JSON.stringify({ traceId, spanId })}\n`);
}

await main();
