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
async function runTraced(env: Record<string, string>): Promise<{ log: string; ids: Exported }> {
  const proc = spawnService('testkit/src/otlp-receiver/export-through-start-tracing.ts', env);
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

  it('a collector that refuses the export: a warning in the log, and still not the value', async () => {
    // A path the receiver does not serve: it answers 404, as a collector behind the wrong URL would.
    const { log } = await runTraced({
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${receiver.url}/v1/nothing-here`,
      OTEL_EXPORTER_OTLP_HEADERS: HEADERS,
    });
    expect(receiver.refused()).toEqual([expect.objectContaining({ path: '/v1/nothing-here', status: 404 })]);
    expect(receiver.spans()).toEqual([]);
    // The exporter's error (OTLPExporterError "Not Found", with the collector's answer), logged once at the shutdown
    // that drained the batch; a long-running process logs it as a "tracing problem" instead.
    const warnings = log
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes('"level":"warn"'))
      .map((l) => (JSON.parse(l) as { message: string }).message);
    expect(warnings).toEqual([expect.stringMatching(/^tracing (shutdown failed|problem)$/)]);
    // What went wrong, with the status the collector answered; not the collector's answer body, which it sizes.
    const detail = log
      .split('\n')
      .filter((l) => l.startsWith('{') && l.includes('"level":"warn"'))
      .map((l) => (JSON.parse(l) as { detail: string }).detail);
    expect(detail).toEqual([expect.stringMatching(/Not Found.*404/)]);
    expect(detail[0]!.length).toBeLessThanOrEqual(500);
    expect(log).not.toContain(TEAM_KEY);
  });
});
