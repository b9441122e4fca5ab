import { z } from 'zod';
import { AlertEventSchema } from '../alerts/alert-event.js';
import { UsageSchema } from '../anthropic/usage.js';
import { USAGE_ROUTES } from '../usage/usage-counters.js';

/** A prompt block the worker may not know yet, shipped with its content so it can be tokenised once. */
export const ShippedBlockSchema = z.object({
  hash: z.string().regex(/^[0-9a-f]{64}$/),
  block: z.record(z.string(), z.unknown()),
});
export type ShippedBlock = z.infer<typeof ShippedBlockSchema>;

/**
 * The prompt as the worker needs it: every block's hash in order (tools, system, messages), and the
 * content of only those blocks the block-token table did not know when the gateway asked.
 */
export const PromptDigestSchema = z.object({
  hashes: z.array(z.string().regex(/^[0-9a-f]{64}$/)),
  blocks: z.array(ShippedBlockSchema),
});
export type PromptDigest = z.infer<typeof PromptDigestSchema>;

/**
 * What the response carried as content, in the cheapest form the gateway had it: the raw
 * `content_block_*` events of a stream (the worker parses them, not the gateway), or the content
 * array of a JSON message.
 */
export const ResponseContentSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('sse'), events: z.array(z.object({ event: z.string(), data: z.string() })) }),
  z.object({ kind: z.literal('message'), content: z.array(z.unknown()) }),
]);
export type ResponseContent = z.infer<typeof ResponseContentSchema>;

/** One finished client request (`/v1/messages`, or `/v1/chat/completions` as the Messages request it became), as the gateway enqueues it for counting (jobId = requestId). */
export const UsageJobSchema = z.object({
  requestId: z.string().min(1),
  /** Epoch ms when the request arrived; decides the UTC day it counts on. */
  at: z.number().int().nonnegative(),
  keyId: z.string().min(1),
  /** The node whose answer the client got; null when none answered. */
  nodeId: z.string().nullable(),
  /** The model the client asked for ('unknown' when the body named none). */
  model: z.string().min(1),
  stream: z.boolean(),
  /** The status the client got (499: it hung up before a response head). */
  status: z.number().int(),
  durationMs: z.number().nonnegative(),
  ttfbMs: z.number().nonnegative().nullable(),
  /** The client hung up before the response ended. */
  aborted: z.boolean(),
  /** The node's response broke off after the first byte. */
  brokeMidStream: z.boolean(),
  /** Exact usage as the response reported it; null when it reported none (errors, aborts before message_start). */
  usage: UsageSchema.nullable(),
  stopReason: z.string().nullable(),
  /** A stream that reached message_stop without an error event, or a whole JSON message. */
  endedCleanly: z.boolean(),
  /** Null when the request body had no prompt to count (it never reached a model). */
  prompt: PromptDigestSchema.nullable(),
  output: ResponseContentSchema.nullable(),
  /** The kind of account that answered (null: no node answered); `oauth` usage is API-equivalent value. Older gateways sent none. */
  accountKind: z.enum(['oauth', 'api_key']).nullable().default(null),
  /**
   * The conversation's stickiness: `none` (no session, or its first turn), `hit` (answered by its pinned node),
   * `moved` (pinned to a node that did not answer it: its prompt cache stayed behind). Older gateways sent none.
   */
  sticky: z.enum(['none', 'hit', 'moved']).default('none'),
  /**
   * The client API the request came in on: `messages` (`POST /v1/messages`) or `chat_completions`
   * (`POST /v1/chat/completions`, translated to a Messages request by the gateway). Older gateways sent none.
   */
  // A job from a newer gateway with a route this worker does not know is still counted (as messages), never lost.
  route: z.enum(USAGE_ROUTES).default('messages').catch('messages'),
  /**
   * The W3C traceparent of the gateway's span for the request, when tracing is on: the worker's job span links to
   * it (docs/TRACING.md). Absent with tracing off and from older gateways; a malformed one is dropped, never a failure.
   */
  traceparent: z
    .string()
    .regex(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/)
    .optional()
    .catch(undefined),
});
export type UsageJob = z.infer<typeof UsageJobSchema>;

/** BullMQ job options we use, declared here so the kernel does not depend on BullMQ's types. */
export interface JobDefaults {
  attempts: number;
  backoff: { type: 'exponential'; delay: number };
  /** Deleted the moment it completes: a job's payload is conversation text, kept no longer than counting needs. */
  removeOnComplete: true;
  /** A job that failed for good is kept `age` seconds for inspection, then deleted (the worker sweeps them: BullMQ itself prunes only when another job fails). */
  removeOnFail: { age: number };
}

/**
 * Every queue and job the services use: name → payload schema + retry policy. Producers validate
 * with the schema; a worker implements {@link JobHandlers}, so the compiler demands a handler per job.
 */
export const JobCatalog = {
  usage: {
    queue: 'usage',
    payload: UsageJobSchema,
    defaults: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 1_000 },
      // A replayed job (the gateway's spool, a re-add with the same id) is not stopped by the queue once the
      // first one is gone: the worker's usage:done marker (kept 30 days) makes it count nothing.
      removeOnComplete: true,
      removeOnFail: { age: 86_400 },
    },
  },
  /** An alert raised (jobId = its id): the dispatcher records it once and queues one delivery per webhook URL. */
  alert: {
    queue: 'alerts',
    payload: AlertEventSchema,
    // A failed dispatch is kept an hour, not days: while kept, its id stops a later raise of the same alert.
    defaults: {
      attempts: 10,
      backoff: { type: 'exponential', delay: 1_000 },
      removeOnComplete: true,
      removeOnFail: { age: 3_600 },
    },
  },
  /** One alert to one webhook URL (jobId = alert id + a digest of the URL), retried with backoff until it is taken. */
  alertDelivery: {
    queue: 'alert-deliveries',
    payload: z.object({ event: AlertEventSchema, url: z.string().url() }),
    defaults: {
      attempts: 12,
      backoff: { type: 'exponential', delay: 2_000 },
      removeOnComplete: true,
      removeOnFail: { age: 7 * 86_400 },
    },
  },
} as const satisfies Record<string, { queue: string; payload: z.ZodType; defaults: JobDefaults }>;

export type JobName = keyof typeof JobCatalog;
/** A job's payload once parsed: what its handler works with. */
export type JobPayload<N extends JobName> = z.infer<(typeof JobCatalog)[N]['payload']>;
/**
 * A job's data as it sits in its queue: what a producer adds (an older producer may leave out what has a default).
 * Type a queue's Worker with it; the handler still parses it (readJobPayload), since Redis is not proof of shape.
 */
export type JobData<N extends JobName> = z.input<(typeof JobCatalog)[N]['payload']>;
export type JobHandlers = { [N in JobName]: (payload: JobPayload<N>) => Promise<void> };

/** Validates a payload against its job's schema (throws a ZodError naming the bad fields). */
export function parseJobPayload<N extends JobName>(name: N, payload: unknown): JobPayload<N> {
  return JobCatalog[name].payload.parse(payload) as JobPayload<N>;
}

/**
 * A job's data as its worker takes it: the payload, or what is wrong with it as paths and codes only (never the
 * values: a usage job carries prompt text, which goes into no error or log line). A worker fails an invalid job for
 * good (BullMQ's UnrecoverableError): retrying cannot fix it.
 * @example
 * const read = readJobPayload('usage', job.data);
 * if (!read.ok) throw new UnrecoverableError(`usage job payload is invalid (${read.problems})`);
 */
export function readJobPayload<N extends JobName>(
  name: N,
  data: unknown,
): { ok: true; payload: JobPayload<N> } | { ok: false; problems: string } {
  const parsed = JobCatalog[name].payload.safeParse(data);
  if (parsed.success) return { ok: true, payload: parsed.data as JobPayload<N> };
  const problems = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join('.') || '(payload)'}: ${i.code}`);
  return { ok: false, problems: problems.join('; ') };
}

/**
 * The BullMQ key prefix for a keyspace prefix: queues live under the same prefix as every other key
 * ('sy:' → 'sy:bull', so the usage queue's keys are 'sy:bull:usage:…').
 */
export function queuePrefix(keyspacePrefix: string): string {
  return `${keyspacePrefix}bull`;
}
