// A real tracer provider for a test file: what startTracing registers (shared/src/tracing), less the exporter's
// network: an in-memory exporter behind a simple processor, so a span is there the moment it ends, with the W3C
// propagator and the async-hooks context manager. One per test file, stopped in afterAll.
import { context, propagation, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

export type { ReadableSpan };

/** The registered provider's finished spans, and how to take it down again. */
export interface TestTracing {
  exporter: InMemorySpanExporter;
  spans(): ReadableSpan[];
  /** Shuts the provider down and unregisters it, the propagator and the context manager (afterAll). */
  stop(): Promise<void>;
}

/**
 * Registers a global provider exporting to memory.
 * @example
 * const tracing = registerTestTracing(); afterAll(() => tracing.stop());
 */
export function registerTestTracing(): TestTracing {
  const exporter = new InMemorySpanExporter();
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  provider.register({ propagator: new W3CTraceContextPropagator() });
  return {
    exporter,
    spans: () => exporter.getFinishedSpans(),
    async stop() {
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** A span's parent span id (undefined for a root). */
export function parentOf(span: ReadableSpan): string | undefined {
  return span.parentSpanContext?.spanId;
}

/** The spans of one trace whose parent is `parent`, in start order. */
export function childrenOf(spans: readonly ReadableSpan[], parent: ReadableSpan): ReadableSpan[] {
  const { traceId, spanId } = parent.spanContext();
  return spans
    .filter((s) => s.spanContext().traceId === traceId && parentOf(s) === spanId)
    .sort((a, b) => a.startTime[0] - b.startTime[0] || a.startTime[1] - b.startTime[1]);
}
