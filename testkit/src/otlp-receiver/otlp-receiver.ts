// A real OTLP/HTTP trace receiver for tests and the demo: what an OpenTelemetry Collector does on port 4318 for
// traces, kept in memory. It takes `POST /v1/traces` with a JSON body (what @opentelemetry/exporter-trace-otlp-http
// sends; gzip or deflate content-encoding too), answers 200 `{}` (ExportTraceServiceResponse, nothing rejected),
// and keeps every span flattened. Protobuf bodies get 415: the exporters we run speak JSON.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import { waitFor, type WaitOptions } from '../wait-for.js';
import { decodeTraceRequest, type ReceivedSpan } from './decode-traces.js';

const gunzipAsync = promisify(gunzip);
const inflateAsync = promisify(inflate);

/** A started receiver. */
export interface OtlpReceiver {
  /** The base URL, for OTEL_EXPORTER_OTLP_ENDPOINT (the exporter appends /v1/traces). */
  readonly url: string;
  /** The full traces URL, for an exporter's `url` option or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT. */
  readonly tracesUrl: string;
  /** Every span received so far, in arrival order. */
  spans(): ReceivedSpan[];
  /** Every accepted export request: its headers, content-encoding and body (decompressed), for a leak search. */
  exports(): ReceivedExport[];
  /** Export requests refused (not JSON, bad path, unparsable), with the reason. */
  refused(): { path: string; status: number; reason: string }[];
  /**
   * Polls until `predicate` holds over the spans received so far and resolves with them; at the limit (default
   * 30 s) it throws naming `what` and listing the spans it has.
   */
  waitForSpans(
    predicate: (spans: ReceivedSpan[]) => boolean,
    opts?: WaitOptions & { what?: string },
  ): Promise<ReceivedSpan[]>;
  /** Forgets what was received. */
  clear(): void;
  close(): Promise<void>;
}

/** One accepted POST /v1/traces. */
export interface ReceivedExport {
  /** The request's headers as Node read them (names lower-cased): what OTEL_EXPORTER_OTLP_HEADERS added, say. */
  headers: IncomingHttpHeaders;
  /** Its content-encoding ('identity' when none). */
  encoding: string;
  /** The JSON body, decompressed. */
  body: string;
  spanCount: number;
}

export interface OtlpReceiverOptions {
  host?: string;
  /** Default 0 (a free port). */
  port?: number;
  /** Larger bodies get 413. Default 16 MiB. */
  maxBodyBytes?: number;
}

/** One line per span, for a wait's error: service, kind, name, ids. */
export function describeSpans(spans: readonly ReceivedSpan[]): string {
  return spans
    .map(
      (s) => `  ${s.service} ${s.kind} "${s.name}" trace=${s.traceId} span=${s.spanId} parent=${s.parentSpanId ?? '-'}`,
    )
    .join('\n');
}

/**
 * Starts a receiver on loopback, port 0 unless told.
 * @example
 * const otlp = await startOtlpReceiver();
 * const stack = await startStack({ redisUrl, otel: { endpoint: otlp.url } });
 * const spans = await otlp.waitForSpans((all) => all.some((s) => s.name === 'forward'));
 * await otlp.close();
 */
export async function startOtlpReceiver(opts: OtlpReceiverOptions = {}): Promise<OtlpReceiver> {
  const host = opts.host ?? '127.0.0.1';
  const maxBodyBytes = opts.maxBodyBytes ?? 16 * 1024 * 1024;
  const spans: ReceivedSpan[] = [];
  const received: ReceivedExport[] = [];
  const refused: { path: string; status: number; reason: string }[] = [];

  const refuse = (req: IncomingMessage, res: ServerResponse, status: number, reason: string) => {
    refused.push({ path: req.url ?? '', status, reason });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ code: status, message: reason }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'POST' || path !== '/v1/traces') return refuse(req, res, 404, `no route ${req.method} ${path}`);
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json') return refuse(req, res, 415, `content-type ${type ?? '(none)'} (JSON only)`);
    const raw = await readBody(req, maxBodyBytes);
    if (raw === undefined) return refuse(req, res, 413, `body over ${maxBodyBytes} bytes`);
    const encoding = String(req.headers['content-encoding'] ?? 'identity');
    let text: string;
    try {
      text = (await decompress(raw, encoding)).toString('utf8');
    } catch (err) {
      return refuse(req, res, 400, `content-encoding: ${(err as Error).message}`);
    }
    let decoded: ReceivedSpan[];
    try {
      decoded = decodeTraceRequest(JSON.parse(text));
    } catch (err) {
      return refuse(req, res, 400, `not an ExportTraceServiceRequest: ${(err as Error).message}`);
    }
    received.push({ headers: req.headers, encoding, body: text, spanCount: decoded.length });
    spans.push(...decoded);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{}');
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) refuse(req, res, 500, String(err));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  return {
    url,
    tracesUrl: `${url}/v1/traces`,
    spans: () => [...spans],
    exports: () => [...received],
    refused: () => [...refused],
    async waitForSpans(predicate, waitOpts = {}) {
      const { what, ...rest } = waitOpts;
      return waitFor(what ?? 'the expected spans at the OTLP receiver', () => predicate(spans) && [...spans], {
        timeoutMs: 30_000,
        intervalMs: 50,
        detail: () =>
          `received ${spans.length} spans:\n${describeSpans(spans)}${refused.length === 0 ? '' : `\nrefused: ${JSON.stringify(refused)}`}`,
        ...rest,
      });
    },
    clear: () => {
      spans.length = 0;
      received.length = 0;
      refused.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The whole body, or undefined past `limit` bytes (the rest is drained). */
async function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
  }
  return size > limit ? undefined : Buffer.concat(chunks);
}

function decompress(raw: Buffer, encoding: string): Promise<Buffer> {
  switch (encoding.trim().toLowerCase()) {
    case 'identity':
    case '':
      return Promise.resolve(raw);
    case 'gzip':
      return gunzipAsync(raw);
    case 'deflate':
      return inflateAsync(raw);
    default:
      return Promise.reject(new Error(`unsupported ${encoding}`));
  }
}
