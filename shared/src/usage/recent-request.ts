import { z } from 'zod';
import { USAGE_ROUTES } from './usage-counters.js';

/**
 * One entry of the recent-requests list (`keys.recent()`, newest first): what the dashboard shows per
 * request. Never any prompt or response text.
 */
export const RecentRequestSchema = z.object({
  requestId: z.string(),
  /** Epoch ms when the request arrived. */
  at: z.number(),
  keyId: z.string(),
  nodeId: z.string().nullable(),
  model: z.string(),
  stream: z.boolean(),
  status: z.number().int(),
  aborted: z.boolean(),
  stopReason: z.string().nullable(),
  inputTokens: z.number().int(),
  outputTokens: z.number().int(),
  cacheCreationInputTokens: z.number().int(),
  cacheReadInputTokens: z.number().int(),
  estimatedInputTokens: z.number().int(),
  estimatedOutputTokens: z.number().int(),
  /** The estimate is partly from text length, not the tokeniser (see the `approximateEstimates` counter); absent in older entries. */
  estimateApproximate: z.boolean().default(false),
  durationMs: z.number(),
  ttfbMs: z.number().nullable(),
  /** What the request was charged, in micro-dollars (see the `costMicros` counter); absent in older entries. */
  costMicros: z.number().int().default(0),
  /** False when the model had no price (counted at zero cost); absent in older entries. */
  priced: z.boolean().default(true),
  /** What prompt caching saved on this request, in micro-dollars (may be negative); absent in older entries. */
  cacheSavingsMicros: z.number().int().default(0),
  /** The client API the request came in on (see the `chatCompletionRequests` counter); absent in older entries, which were all `messages`. */
  route: z.enum(USAGE_ROUTES).default('messages'),
});
export type RecentRequest = z.infer<typeof RecentRequestSchema>;

/** How many entries the recent-requests list keeps. */
export const RECENT_REQUESTS_KEPT = 1000;
