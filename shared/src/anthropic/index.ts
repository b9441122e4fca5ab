// The Anthropic stream toolkit: pure functions, no I/O.
export { createSseParser, DEFAULT_MAX_EVENT_LENGTH } from './sse-parser.js';
export type { SseEvent, SseParser, SseParserOptions } from './sse-parser.js';
export { UsageSchema, applyUsage, emptyUsage, usageFromMessage } from './usage.js';
export { asRecord } from './narrow.js';
export type { MessageUsage, Usage } from './usage.js';
export { createStreamUsageTracker } from './stream-usage-tracker.js';
export type { StreamError, StreamUsageResult, StreamUsageTracker } from './stream-usage-tracker.js';
export type { HeaderRecord, HeaderSource, HeadersLike } from './header-source.js';
export { parseRateLimitHeaders } from './rate-limit.js';
export type {
  ApiKeyBucket,
  ApiKeyRateLimit,
  OverageInfo,
  RateLimitInfo,
  RateLimitWindow,
  UnifiedRateLimit,
  UnifiedStatus,
} from './rate-limit.js';
export { FALLBACK_LIMIT_MS, classifyRateLimit, listRateLimitRejections } from './classify-rate-limit.js';
export type { RateLimitRejection, RateLimitVerdict } from './classify-rate-limit.js';
export { KNOWN_MODEL_FAMILIES, familyOfWindow, modelFamily, windowForClaim } from './model-family.js';
export type { KnownModelFamily, ModelFamily } from './model-family.js';
export {
  AccountStateSchema,
  AccountStatusSchema,
  WindowFiguresSchema,
  availableAt,
  effectiveState,
  initialAccountState,
  nextAccountState,
} from './account-state.js';
export type { AccountState, AccountStatus, WindowFigures } from './account-state.js';

/** The beta that makes the API accept OAuth access tokens (docs/ANTHROPIC.md §2). */
export const OAUTH_BETA = 'oauth-2025-04-20';
