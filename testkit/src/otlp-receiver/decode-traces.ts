// OTLP/JSON trace export bodies (ExportTraceServiceRequest, as @opentelemetry/exporter-trace-otlp-http sends them)
// flattened into one record per span, with its service and resource beside it. The JSON encoding of OTLP: ids are
// hex strings, 64-bit integers (intValue, timestamps) may come as strings, enums as numbers.

/** One exported span, flattened. */
export interface ReceivedSpan {
  /** The resource's `service.name`. */
  service: string;
  /** Every resource attribute (service.name, service.version, telemetry.sdk.*, host.*, …). */
  resource: Record<string, unknown>;
  /** The instrumentation scope's name. */
  scope: string;
  traceId: string;
  spanId: string;
  /** undefined for a root span. */
  parentSpanId: string | undefined;
  name: string;
  kind: SpanKindName;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  links: { traceId: string; spanId: string; attributes: Record<string, unknown> }[];
  status: { code: SpanStatusName; message: string | undefined };
  /** Nanoseconds since the epoch, as a bigint (a Number cannot hold them exactly). */
  startNs: bigint;
  endNs: bigint;
}

export type SpanKindName = 'UNSPECIFIED' | 'INTERNAL' | 'SERVER' | 'CLIENT' | 'PRODUCER' | 'CONSUMER';
export type SpanStatusName = 'UNSET' | 'OK' | 'ERROR';

const KINDS: readonly SpanKindName[] = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER'];
const STATUSES: readonly SpanStatusName[] = ['UNSET', 'OK', 'ERROR'];

// The wire shapes (only what is read; everything optional, as a proto3 JSON encoder may omit defaults).
interface AnyValueJson {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: string | number;
  doubleValue?: number | string;
  bytesValue?: string;
  arrayValue?: { values?: AnyValueJson[] };
  kvlistValue?: { values?: KeyValueJson[] };
}
interface KeyValueJson {
  key: string;
  value?: AnyValueJson;
}
interface SpanJson {
  traceId?: string;
  spanId?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number | string;
  startTimeUnixNano?: string | number | { low: number; high: number };
  endTimeUnixNano?: string | number | { low: number; high: number };
  attributes?: KeyValueJson[];
  events?: { name?: string; attributes?: KeyValueJson[] }[];
  links?: { traceId?: string; spanId?: string; attributes?: KeyValueJson[] }[];
  status?: { code?: number | string; message?: string };
}
interface ExportTraceServiceRequestJson {
  resourceSpans?: {
    resource?: { attributes?: KeyValueJson[] };
    scopeSpans?: { scope?: { name?: string }; spans?: SpanJson[] }[];
  }[];
}

/** An OTLP AnyValue as a plain value: ints as numbers (bigint past 2^53), arrays as arrays, kvlists as objects. */
export function anyValueOf(value: AnyValueJson | undefined): unknown {
  if (value === undefined) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.intValue !== undefined) return intOf(value.intValue);
  if (value.doubleValue !== undefined) return Number(value.doubleValue);
  if (value.bytesValue !== undefined) return value.bytesValue;
  if (value.arrayValue !== undefined) return (value.arrayValue.values ?? []).map(anyValueOf);
  if (value.kvlistValue !== undefined) return attributesOf(value.kvlistValue.values);
  return undefined;
}

function intOf(raw: string | number): number | bigint {
  const big = BigInt(raw);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(big) : big;
}

/** A list of OTLP KeyValues as a record. */
export function attributesOf(list: KeyValueJson[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of list ?? []) out[kv.key] = anyValueOf(kv.value);
  return out;
}

function nanosOf(raw: SpanJson['startTimeUnixNano']): bigint {
  if (raw === undefined) return 0n;
  if (typeof raw === 'object') return (BigInt(raw.high >>> 0) << 32n) + BigInt(raw.low >>> 0);
  return BigInt(raw);
}

function enumOf<T extends string>(names: readonly T[], raw: number | string | undefined, prefix: string): T {
  if (raw === undefined) return names[0] as T;
  if (typeof raw === 'number') return names[raw] ?? (names[0] as T);
  // The proto3 JSON mapping also allows the enum's name (SPAN_KIND_SERVER, STATUS_CODE_ERROR).
  const name = raw.replace(prefix, '') as T;
  return names.includes(name) ? name : (names[0] as T);
}

/** An empty or all-zero id is no id (the proto's default). */
function idOf(raw: string | undefined): string | undefined {
  return raw === undefined || raw === '' || /^0+$/.test(raw) ? undefined : raw.toLowerCase();
}

/** Every span of one ExportTraceServiceRequest (JSON), flattened. */
export function decodeTraceRequest(body: unknown): ReceivedSpan[] {
  const request = body as ExportTraceServiceRequestJson;
  const spans: ReceivedSpan[] = [];
  for (const rs of request.resourceSpans ?? []) {
    const resource = attributesOf(rs.resource?.attributes);
    const service = typeof resource['service.name'] === 'string' ? resource['service.name'] : '';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        spans.push({
          service,
          resource,
          scope: ss.scope?.name ?? '',
          traceId: idOf(s.traceId) ?? '',
          spanId: idOf(s.spanId) ?? '',
          parentSpanId: idOf(s.parentSpanId),
          name: s.name ?? '',
          kind: enumOf(KINDS, s.kind, 'SPAN_KIND_'),
          attributes: attributesOf(s.attributes),
          events: (s.events ?? []).map((e) => ({ name: e.name ?? '', attributes: attributesOf(e.attributes) })),
          links: (s.links ?? []).map((l) => ({
            traceId: idOf(l.traceId) ?? '',
            spanId: idOf(l.spanId) ?? '',
            attributes: attributesOf(l.attributes),
          })),
          status: { code: enumOf(STATUSES, s.status?.code, 'STATUS_CODE_'), message: s.status?.message || undefined },
          startNs: nanosOf(s.startTimeUnixNano),
          endNs: nanosOf(s.endTimeUnixNano),
        });
      }
    }
  }
  return spans;
}
