// The receiver against the real exporter the processes run (@opentelemetry/exporter-trace-otlp-http, JSON over
// HTTP, in a process of its own: export-sample-spans.ts): every field the chain tests read comes back as the SDK
// recorded it, plain and gzipped.
import { gzipSync } from 'node:zlib';
import { spawnService } from '../spawn-service.js';
import type { SampleExported } from './export-sample-spans.js';
import { startOtlpReceiver, type OtlpReceiver } from './otlp-receiver.js';

let receiver: OtlpReceiver;
beforeAll(async () => {
  receiver = await startOtlpReceiver();
});
afterAll(() => receiver?.close());
beforeEach(() => receiver.clear());

/** Runs the real SDK and exporter against the receiver; resolves with the ids it printed. */
async function exportSample(compression: 'gzip' | 'none'): Promise<SampleExported> {
  const proc = spawnService(
    'testkit/src/otlp-receiver/export-sample-spans.ts',
    {},
    {
      args: [receiver.tracesUrl, compression],
    },
  );
  const exit = await proc.exited();
  if (exit.code !== 0) throw new Error(`the exporter process failed (${exit.code ?? exit.signal}):\n${proc.output()}`);
  const line = proc.output().trim().split('\n').pop() ?? '';
  return JSON.parse(line) as SampleExported;
}

describe('the OTLP receiver', () => {
  it.each([
    ['plain JSON', 'none' as const],
    ['gzipped JSON', 'gzip' as const],
  ])('decodes what the real OTLP/HTTP exporter sends (%s)', async (_label, compression) => {
    const { traceId, serverId, clientId, link } = await exportSample(compression);
    // The exporter waited for the answer before printing: every span is in.
    const spans = receiver.spans();
    expect(spans).toHaveLength(2);

    expect(receiver.refused()).toEqual([]);
    const server = spans.find((s) => s.name === 'POST /v1/messages')!;
    const client = spans.find((s) => s.name === 'chat claude-sonnet-4-6')!;
    expect(server).toMatchObject({
      service: 'receiver-test',
      scope: 'switchyard',
      traceId,
      spanId: serverId,
      parentSpanId: undefined,
      kind: 'SERVER',
      attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200 },
      status: { code: 'UNSET' },
      events: [],
      links: [],
    });
    expect(server.resource).toMatchObject({ 'service.name': 'receiver-test', 'service.version': '1.2.3' });
    expect(client).toMatchObject({
      traceId,
      parentSpanId: serverId,
      kind: 'CLIENT',
      attributes: {
        'gen_ai.request.model': 'claude-sonnet-4-6',
        'gen_ai.usage.input_tokens': 12,
        big: 2 ** 40,
        ratio: 0.25,
        streamed: true,
        tags: ['a', 'b'],
        counts: [1, 2, 3],
      },
      events: [
        { name: 'first_byte', attributes: { 'switchyard.ttfb_ms': 7 } },
        { name: 'first_text_delta', attributes: {} },
      ],
      links: [{ ...link, attributes: { why: 'usage' } }],
      status: { code: 'ERROR', message: 'overloaded' },
    });
    expect(client.spanId).toBe(clientId);
    // Times are the SDK's, in nanoseconds since the epoch, the child within its parent.
    const nowNs = BigInt(Date.now()) * 1_000_000n;
    expect(server.startNs).toBeGreaterThan(nowNs - 60_000_000_000n);
    expect(server.startNs).toBeLessThanOrEqual(client.startNs);
    expect(client.endNs).toBeLessThanOrEqual(server.endNs);
    // One request per span (the simple processor), compressed as asked, the bodies kept for leak searches.
    const exports = receiver.exports();
    expect(exports.map((e) => [e.encoding, e.spanCount])).toEqual(
      Array(2).fill([compression === 'gzip' ? 'gzip' : 'identity', 1]),
    );
    expect(exports.map((e) => e.body).join('\n')).toContain('"gen_ai.request.model"');
  });

  it('answers the OTLP success body, and refuses what it cannot read without keeping anything', async () => {
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'by-hand' } }] },
          scopeSpans: [
            {
              scope: { name: 'hand' },
              spans: [
                {
                  traceId: '0af7651916cd43dd8448eb211c80319c',
                  spanId: 'b7ad6b7169203331',
                  parentSpanId: '',
                  name: 'usage req_1',
                  kind: 5,
                  startTimeUnixNano: '1700000000000000001',
                  endTimeUnixNano: 1700000000000000,
                  attributes: [
                    { key: 'n', value: { intValue: '9007199254740993' } },
                    { key: 'kv', value: { kvlistValue: { values: [{ key: 'x', value: { boolValue: false } }] } } },
                  ],
                  status: {},
                },
              ],
            },
          ],
        },
      ],
    };
    const ok = await fetch(receiver.tracesUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'content-encoding': 'gzip', 'x-honeycomb-team': 'by-hand-key' },
      body: gzipSync(JSON.stringify(body)),
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({});
    // The request's headers are kept with it (a collector's key from OTEL_EXPORTER_OTLP_HEADERS, say).
    expect(receiver.exports().map((e) => e.headers['x-honeycomb-team'])).toEqual(['by-hand-key']);
    expect(receiver.spans()).toEqual([
      expect.objectContaining({
        service: 'by-hand',
        parentSpanId: undefined,
        kind: 'CONSUMER',
        attributes: { n: 9007199254740993n, kv: { x: false } },
        status: { code: 'UNSET', message: undefined },
        startNs: 1700000000000000001n,
        endNs: 1700000000000000n,
      }),
    ]);

    const protobuf = await fetch(receiver.tracesUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-protobuf' },
      body: new Uint8Array([1, 2, 3]),
    });
    expect(protobuf.status).toBe(415);
    const garbage = await fetch(receiver.tracesUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    });
    expect(garbage.status).toBe(400);
    expect((await fetch(`${receiver.url}/v1/metrics`, { method: 'POST' })).status).toBe(404);
    expect(receiver.spans()).toHaveLength(1);
    expect(receiver.refused().map((r) => r.status)).toEqual([415, 400, 404]);
  });

  it('names what it has when a wait runs out', async () => {
    await expect(
      receiver.waitForSpans((all) => all.some((s) => s.name === 'never'), { timeoutMs: 200, what: 'a span "never"' }),
    ).rejects.toThrow(/a span "never"[\s\S]*received 0 spans/);
  });
});
