// startTracing as a process runs it, against the testkit's OTLP receiver: the exporter reads the standard variables
// itself, so a vendor's key in OTEL_EXPORTER_OTLP_HEADERS (Honeycomb's x-honeycomb-team, say) goes on each export
// request, and the value never reaches the log, also when the collector refuses the export. In a process of its own
// (testkit/src/otlp-receiver/export-through-start-tracing.ts): jest's sandbox cannot load the exporter.
import { spawnService, startOtlpReceiver, type OtlpReceiver } from '@switchyard/testkit';

/** What the process prints last (export-through-start-tracing.ts): its span's ids. */
interface Exported {
  traceId: string;
  spanId: string;
}

// A vendor's key as an operator sets it; nothing in the log's redaction would mask this shape.
const TEAM_KEY = 'hcSENTINELteamKey7d1e0c42';
const HEADERS = `x-honeycomb-team=${TEAM_KEY},x-honeycomb-dataset=switchyard`;

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver?.close());
beforeEach(() => receiver.clear());

/** Runs startTracing in a process with only `env`; once it exited 0, its output (the log) and the ids it printed. */
async function runTraced(env: Record<string, string>, args: string[] = []): Promise<{ log: string; ids: Exported }> {
  const proc = spawnService('testkit/src/otlp-receiver/export-through-start-tracing.ts', env, { args });
  const exit = await proc.exited();
  const log = proc.output();
  if (exit.code !== 0) throw new Error(`the traced process failed (${exit.code ?? exit.signal}):\n${log}`);
  const ids = JSON.parse(log.trim().split('\n').pop() ?? '') as Exported;
  return { log, ids };
}

describe('startTracing and OTEL_EXPORTER_OTLP_HEADERS', () => {
  it('sends the headers on every export request to the collector, and never writes their value to the log', async () => {
    const { log, ids } = await runTraced({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_HEADERS: HEADERS,
    });
    const spans = await receiver.waitForSpans((all) => all.some((s) => s.traceId === ids.traceId), {
      what: 'the sample span',
    });
    expect(spans.find((s) => s.spanId === ids.spanId)).toMatchObject({ name: 'sample', service: 'start-tracing-test' });

    const exports = receiver.exports();
    expect(exports.length).toBeGreaterThan(0);
    for (const sent of exports) {
      expect(sent.headers).toMatchObject({ 'x-honeycomb-team': TEAM_KEY, 'x-honeycomb-dataset': 'switchyard' });
      // A header, not a resource attribute: the spans themselves do not carry it.
      expect(sent.body).not.toContain(TEAM_KEY);
    }
    expect(log).not.toContain(TEAM_KEY);
  });

  /** The warnings a run logged: message and detail. */
  const warnings = (log: string) =>
    log
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes('"level":"warn"'))
      .map((l) => JSON.parse(l) as { message: string; detail: string });

  // A path the receiver does not serve: it answers 404 with a body ("no route …"), as a collector behind the wrong
  // URL would. The log says what went wrong and the status, never that body (the collector's to size) nor the key.
  const REFUSING = (env: Record<string, string> = {}) => ({
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/nothing-here`,
    OTEL_EXPORTER_OTLP_HEADERS: HEADERS,
    ...env,
  });

  it('a collector that refuses the export at shutdown: one warning, the status, not the body nor the value', async () => {
    const { log } = await runTraced(REFUSING());
    expect(receiver.refused()).toEqual([expect.objectContaining({ path: '/v1/nothing-here', status: 404 })]);
    expect(receiver.spans()).toEqual([]);
    expect(warnings(log)).toEqual([
      expect.objectContaining({ message: 'tracing shutdown failed', detail: 'OTLPExporterError: Not Found (404)' }),
    ]);
    expect(log).not.toContain('no route');
    expect(log).not.toContain(TEAM_KEY);
  });

  it('a scheduled export the collector refuses (a running process): a tracing problem, the status, not the body', async () => {
    const { log } = await runTraced(REFUSING({ OTEL_BSP_SCHEDULE_DELAY: '20' }), ['--wait-for-problem']);
    expect(receiver.refused()).toEqual([expect.objectContaining({ path: '/v1/nothing-here', status: 404 })]);
    // The batch was exported (and refused) before the shutdown, which has nothing left to export.
    expect(warnings(log)).toEqual([
      expect.objectContaining({ message: 'tracing problem', detail: 'OTLPExporterError: Not Found (404)' }),
    ]);
    expect(log).not.toContain('no route');
    expect(log).not.toContain(TEAM_KEY);
  });
});
