// What BullMQ calls for each usage job. With tracing off it is the handler alone: not one OpenTelemetry call per
// job. On, each attempt is one CONSUMER span `usage <request id>`, the root of a trace of its own, LINKED to the
// gateway's request span through the job's traceparent: a link, not a parent, since the job runs later, in a batch,
// possibly after a retry (docs/TRACING.md). A retried job is one span per attempt.
import {
  ANTHROPIC_PROVIDER,
  CHAT_OPERATION,
  GenAiAttr,
  HttpAttr,
  MessagingAttr,
  SpanKind,
  SpanStatusCode,
  spanContextOf,
  SwitchyardAttr,
  switchyardTracer,
  type Attributes,
  type JobData,
  type Link,
  type SpanContext,
  type Tracer,
  type Usage,
  type UsageJob,
} from '@switchyard/shared';
import { readUsageJob, type UsageHandler, type UsageOutcome } from './usage-handler.js';

/** What the processor reads of a BullMQ job (a `Job` is one). */
export interface UsageJobRef {
  readonly id?: string | undefined;
  readonly data: JobData<'usage'>;
}

export type UsageProcessor = (job: UsageJobRef) => Promise<UsageOutcome>;

export interface UsageProcessorDeps {
  handler: UsageHandler;
  /** The queue's name, for messaging.destination.name. */
  queue: string;
  /** Whether this process exports spans (config.tracing.enabled): decided once, not per job. */
  tracing: boolean;
}

/** messaging.system and messaging.operation.type of a job the worker handles. */
const MESSAGING_SYSTEM = 'bullmq';
const PROCESS_OPERATION = 'process';

/**
 * @example
 * const process = createUsageProcessor({ handler, queue: JobCatalog.usage.queue, tracing: config.tracing.enabled });
 * new Worker<JobData<'usage'>, UsageOutcome>(JobCatalog.usage.queue, process, { connection, prefix });
 */
export function createUsageProcessor(deps: UsageProcessorDeps): UsageProcessor {
  const { handler } = deps;
  if (!deps.tracing) return (job) => handler.handle(job.data);
  const traced = new TracedUsageProcessor(handler, deps.queue);
  return (job) => traced.process(job);
}

class TracedUsageProcessor {
  readonly #handler: UsageHandler;
  readonly #queue: string;
  readonly #tracer: Tracer;

  constructor(handler: UsageHandler, queue: string) {
    this.#handler = handler;
    this.#queue = queue;
    this.#tracer = switchyardTracer();
  }

  async process(job: UsageJobRef): Promise<UsageOutcome> {
    // The span starts before the payload is read, so one that cannot be read is a failed span too.
    const link = requestSpanOf(job.data);
    const span = this.#tracer.startSpan(`usage ${job.id ?? ''}`, {
      kind: SpanKind.CONSUMER,
      root: true,
      ...(link === undefined ? {} : { links: [{ context: link } satisfies Link] }),
      attributes: this.#messagingAttributes(job),
    });
    try {
      const read = readUsageJob(job.data);
      // The gateway adds each job under its request id; the name follows the payload should a producer not have.
      if (read.requestId !== job.id) span.updateName(`usage ${read.requestId}`);
      span.setAttributes(requestAttributes(read));
      return await this.#handler.count(read);
    } catch (err) {
      // The error's class only, and no exception event: a message may quote the job's text.
      span.setStatus({ code: SpanStatusCode.ERROR });
      span.setAttribute(HttpAttr.errorType, err instanceof Error ? err.name : '_OTHER');
      throw err;
    } finally {
      span.end();
    }
  }

  #messagingAttributes(job: UsageJobRef): Attributes {
    const attributes: Attributes = {
      [MessagingAttr.system]: MESSAGING_SYSTEM,
      [MessagingAttr.operation]: PROCESS_OPERATION,
      [MessagingAttr.destination]: this.#queue,
    };
    if (job.id !== undefined) attributes[MessagingAttr.messageId] = job.id;
    return attributes;
  }
}

/**
 * The gateway's request span a job's data names (its traceparent), read before the payload is checked: from data
 * of any shape (a hostile producer's `null` included), and only a well-formed, non-zero traceparent.
 */
function requestSpanOf(data: unknown): SpanContext | undefined {
  const traceparent =
    typeof data === 'object' && data !== null ? (data as { traceparent?: unknown }).traceparent : undefined;
  return typeof traceparent === 'string' ? spanContextOf(traceparent) : undefined;
}

/** The trace id of the request a job's data names, for the worker's log lines; from data of any shape. */
export function requestTraceId(data: unknown): string | undefined {
  return requestSpanOf(data)?.traceId;
}

/** What the job says of its request: ids, the model, and the exact usage when the response reported one. */
function requestAttributes(job: UsageJob): Attributes {
  const attributes: Attributes = {
    [SwitchyardAttr.requestId]: job.requestId,
    // The key's id, never the key.
    [SwitchyardAttr.keyId]: job.keyId,
    [GenAiAttr.operation]: CHAT_OPERATION,
    [GenAiAttr.provider]: ANTHROPIC_PROVIDER,
    [GenAiAttr.requestModel]: job.model,
  };
  if (job.usage !== null) Object.assign(attributes, usageAttributes(job.usage));
  return attributes;
}

/**
 * The GenAI usage attributes. gen_ai.usage.input_tokens SHOULD include the cached tokens (the convention's note on
 * it and on both cache attributes), while Anthropic's `input_tokens` counts only the uncached ones: the span's is
 * their sum, so a backend reading the conventions sees every input token once.
 */
function usageAttributes(usage: Usage): Attributes {
  return {
    [GenAiAttr.inputTokens]: usage.inputTokens + usage.cacheReadInputTokens + usage.cacheCreationInputTokens,
    [GenAiAttr.outputTokens]: usage.outputTokens,
    [GenAiAttr.cacheReadTokens]: usage.cacheReadInputTokens,
    [GenAiAttr.cacheWriteTokens]: usage.cacheCreationInputTokens,
  };
}
