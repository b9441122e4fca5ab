import { z } from 'zod';
import { UsageSchema } from '../anthropic/usage.js';

/** One finished `/v1/messages` request, as the gateway enqueues it for counting (jobId = requestId). */
export const UsageJobSchema = z.object({
  requestId: z.string().min(1),
  /** Epoch ms when the request arrived; decides the UTC day it counts on. */
  at: z.number().int().nonnegative(),
  keyId: z.string().min(1),
  nodeId: z.string().nullable(),
  model: z.string(),
  stream: z.boolean(),
  status: z.number().int(),
  durationMs: z.number().nonnegative(),
  usage: UsageSchema.nullable(),
  stopReason: z.string().nullable(),
  endedCleanly: z.boolean(),
});
export type UsageJob = z.infer<typeof UsageJobSchema>;

/** BullMQ job options we use, declared here so the kernel does not depend on BullMQ's types. */
export interface JobDefaults {
  attempts: number;
  backoff: { type: 'exponential'; delay: number };
  removeOnComplete: { age: number; count: number };
  removeOnFail: { age: number; count: number };
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
      removeOnComplete: { age: 3_600, count: 10_000 },
      removeOnFail: { age: 7 * 86_400, count: 10_000 },
    },
  },
} as const satisfies Record<string, { queue: string; payload: z.ZodType; defaults: JobDefaults }>;

export type JobName = keyof typeof JobCatalog;
export type JobPayload<N extends JobName> = z.infer<(typeof JobCatalog)[N]['payload']>;
export type JobHandlers = { [N in JobName]: (payload: JobPayload<N>) => Promise<void> };

/** Validates a payload against its job's schema (throws a ZodError naming the bad fields). */
export function parseJobPayload<N extends JobName>(name: N, payload: unknown): JobPayload<N> {
  return JobCatalog[name].payload.parse(payload) as JobPayload<N>;
}
