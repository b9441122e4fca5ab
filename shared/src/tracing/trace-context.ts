// The trace context across processes (W3C Trace Context): a client's `traceparent` becomes the gateway's parent,
// the gateway's tunnel-hop span the node's, the request's span a link on its usage job. Never sent to Anthropic
// (the node drops TRACE_CONTEXT_HEADERS before the call; docs/TRACING.md).
import type { IncomingHttpHeaders } from 'node:http';
import {
  context,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  trace,
  TraceFlags,
  type Context,
  type Span,
  type SpanContext,
  type TextMapGetter,
  type Tracer,
} from '@opentelemetry/api';

export { context, trace, SpanKind, SpanStatusCode } from '@opentelemetry/api';
export type { Attributes, Context, Link, Span, SpanContext, Tracer } from '@opentelemetry/api';

/** The instrumentation scope every Switchyard span is created under. */
export const TRACER_NAME = 'switchyard';

/** The tracer of the registered provider (a no-op one when tracing is off). */
export function switchyardTracer(): Tracer {
  return trace.getTracer(TRACER_NAME);
}

/** The W3C trace-context request headers: carried from the client to the gateway to the node, never to Anthropic. */
export const TRACE_CONTEXT_HEADERS: readonly string[] = ['traceparent', 'tracestate'];

/**
 * The response header naming the request's trace, `traceresponse: 00-<trace-id>-<span-id>-<flags>` (W3C Trace
 * Context Level 2): set by the gateway next to `request-id` while tracing is on.
 */
export const TRACE_RESPONSE_HEADER = 'traceresponse';

const headerGetter: TextMapGetter<IncomingHttpHeaders> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

/**
 * The context a request's headers carry (its `traceparent`), or the root context when none or malformed. The
 * client's `tracestate` is dropped: it is free text from the client, and kept it would be exported on every span
 * and sent on to the node (docs/TRACING.md).
 */
export function contextFromHeaders(headers: IncomingHttpHeaders): Context {
  const extracted = propagation.extract(ROOT_CONTEXT, headers, headerGetter);
  const sc = trace.getSpanContext(extracted);
  if (sc?.traceState === undefined) return extracted;
  const { traceState: _dropped, ...withoutState } = sc;
  return trace.setSpanContext(ROOT_CONTEXT, withoutState);
}

/** `00-<trace-id>-<span-id>-<flags>` for the span, or undefined when it has no valid context. */
export function traceparentOf(span: Span): string | undefined {
  return formatTraceparent(span.spanContext());
}

function formatTraceparent(sc: SpanContext): string | undefined {
  if (!isSpanContextValid(sc)) return undefined;
  const flags = (sc.traceFlags & TraceFlags.SAMPLED) !== 0 ? '01' : '00';
  return `00-${sc.traceId}-${sc.spanId}-${flags}`;
}

/** The span's trace id for log lines, or undefined when it has no valid context. */
export function traceIdOf(span: Span | undefined): string | undefined {
  if (span === undefined) return undefined;
  const sc = span.spanContext();
  return isSpanContextValid(sc) ? sc.traceId : undefined;
}

/** Sets `traceparent` (and `tracestate`) for `span` in `headers`, replacing what was there. */
export function injectTraceContext(span: Span, headers: Record<string, string | string[] | number | undefined>): void {
  for (const name of TRACE_CONTEXT_HEADERS) delete headers[name];
  const sc = span.spanContext();
  const traceparent = formatTraceparent(sc);
  if (traceparent === undefined) return;
  headers.traceparent = traceparent;
  const state = sc.traceState?.serialize();
  if (state !== undefined && state !== '') headers.tracestate = state;
}

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A `traceparent` value as a remote span context (for a link), or undefined when malformed or all zeros. */
export function spanContextOf(traceparent: string | undefined): SpanContext | undefined {
  const m = traceparent === undefined ? null : TRACEPARENT_RE.exec(traceparent);
  if (m === null) return undefined;
  const sc: SpanContext = {
    traceId: m[1] as string,
    spanId: m[2] as string,
    traceFlags: parseInt(m[3] as string, 16) & TraceFlags.SAMPLED,
    isRemote: true,
  };
  return isSpanContextValid(sc) ? sc : undefined;
}

/** Runs `fn` with `span` as the active span, so spans started inside (a token refresh) become its children. */
export function withSpan<T>(span: Span, fn: () => T): T {
  return context.with(trace.setSpan(context.active(), span), fn);
}
