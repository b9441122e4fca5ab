import { propagation, trace, TraceFlags } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { contextFromHeaders, injectTraceContext, spanContextOf, traceIdOf, traceparentOf } from './trace-context.js';
import { tracingConfigOf } from './tracing-config.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN_ID = '00f067aa0ba902b7';

describe('trace context', () => {
  it('reads a traceparent as a remote span context, and refuses malformed or all-zero ones', () => {
    expect(spanContextOf(`00-${TRACE_ID}-${SPAN_ID}-01`)).toEqual({
      traceId: TRACE_ID,
      spanId: SPAN_ID,
      traceFlags: TraceFlags.SAMPLED,
      isRemote: true,
    });
    for (const bad of [
      undefined,
      '',
      `00-${TRACE_ID}-${SPAN_ID}`,
      `01-${TRACE_ID}-${SPAN_ID}-01`,
      `00-${'0'.repeat(32)}-${SPAN_ID}-01`,
      `00-${TRACE_ID}-${'0'.repeat(16)}-01`,
      `00-${TRACE_ID.toUpperCase()}-${SPAN_ID}-01`,
    ])
      expect(spanContextOf(bad)).toBeUndefined();
  });

  it('writes a span context as traceparent, replacing what the headers carried, and names its trace id', () => {
    const span = trace.wrapSpanContext({ traceId: TRACE_ID, spanId: SPAN_ID, traceFlags: TraceFlags.SAMPLED });
    const headers: Record<string, string> = { traceparent: 'stale', tracestate: 'client=1', accept: '*/*' };
    injectTraceContext(span, headers);
    expect(headers).toEqual({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, accept: '*/*' });
    expect(traceparentOf(span)).toBe(`00-${TRACE_ID}-${SPAN_ID}-01`);
    expect(traceIdOf(span)).toBe(TRACE_ID);
    expect(traceIdOf(trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: SPAN_ID, traceFlags: 0 }))).toBe(
      undefined,
    );
  });

  it("with the W3C propagator, a client's traceparent is the parent and its tracestate is dropped", () => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    try {
      const ctx = contextFromHeaders({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01`, tracestate: 'vendor=SENTINEL' });
      expect(trace.getSpanContext(ctx)).toEqual({
        traceId: TRACE_ID,
        spanId: SPAN_ID,
        traceFlags: TraceFlags.SAMPLED,
        isRemote: true,
      });
      expect(trace.getSpanContext(contextFromHeaders({ traceparent: 'garbage' }))).toBeUndefined();
    } finally {
      propagation.disable();
    }
  });

  it('without a registered propagator, headers carry no parent (tracing off reads nothing)', () => {
    const ctx = contextFromHeaders({ traceparent: `00-${TRACE_ID}-${SPAN_ID}-01` });
    expect(trace.getSpanContext(ctx)).toBeUndefined();
  });
});

describe('tracingConfigOf', () => {
  it('is on only with an endpoint and without OTEL_SDK_DISABLED=true', () => {
    expect(tracingConfigOf({})).toEqual({ enabled: false, collector: undefined });
    expect(tracingConfigOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://user:pw@otel:4318/base' })).toEqual({
      enabled: true,
      collector: 'http://otel:4318',
    });
    expect(tracingConfigOf({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://api.honeycomb.io/v1/traces' })).toEqual({
      enabled: true,
      collector: 'https://api.honeycomb.io',
    });
    expect(
      tracingConfigOf({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel:4318', OTEL_SDK_DISABLED: 'true' }).enabled,
    ).toBe(false);
  });
});
