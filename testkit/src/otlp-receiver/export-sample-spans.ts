// Run by otlp-receiver.int.test.ts as a process of its own: the real OpenTelemetry SDK and OTLP/HTTP exporter
// (what the gateway, node-agent and worker load) export two spans to the URL given, then print their ids as one
// JSON line. A process, not the test's own: the exporter loads node:http with a dynamic import(), which jest's
// CommonJS sandbox refuses.
//   node --conditions=source --import tsx export-sample-spans.ts <traces url> [gzip|none]
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { CompressionAlgorithm } from '@opentelemetry/otlp-exporter-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

/** The span the client span links to. */
const SAMPLE_LINK = { traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' };

/** The line the process prints once both spans are exported. */
export interface SampleExported {
  traceId: string;
  serverId: string;
  clientId: string;
  link: { traceId: string; spanId: string };
}

async function main(url: string, compression: string): Promise<void> {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'receiver-test', 'service.version': '1.2.3' }),
    spanProcessors: [
      new SimpleSpanProcessor(
        new OTLPTraceExporter({
          url,
          compression: compression === 'gzip' ? CompressionAlgorithm.GZIP : CompressionAlgorithm.NONE,
        }),
      ),
    ],
  });
  const tracer = provider.getTracer('switchyard');
  const server = tracer.startSpan('POST /v1/messages', {
    kind: SpanKind.SERVER,
    attributes: { 'http.request.method': 'POST', 'http.response.status_code': 200 },
  });
  const client = tracer.startSpan(
    'chat claude-sonnet-4-6',
    {
      kind: SpanKind.CLIENT,
      attributes: {
        'gen_ai.request.model': 'claude-sonnet-4-6',
        'gen_ai.usage.input_tokens': 12,
        big: 2 ** 40,
        ratio: 0.25,
        streamed: true,
        tags: ['a', 'b'],
        counts: [1, 2, 3],
      },
      links: [{ context: { ...SAMPLE_LINK, traceFlags: 1 }, attributes: { why: 'usage' } }],
    },
    trace.setSpan(context.active(), server),
  );
  client.addEvent('first_byte', { 'switchyard.ttfb_ms': 7 });
  client.addEvent('first_text_delta');
  client.setStatus({ code: SpanStatusCode.ERROR, message: 'overloaded' });
  client.end();
  server.end();
  await provider.forceFlush();
  await provider.shutdown();
  const line: SampleExported = {
    traceId: server.spanContext().traceId,
    serverId: server.spanContext().spanId,
    clientId: client.spanContext().spanId,
    link: SAMPLE_LINK,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

const [url, compression = 'none'] = process.argv.slice(2);
if (url !== undefined) await main(url, compression);
