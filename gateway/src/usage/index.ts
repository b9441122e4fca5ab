// Usage accounting on the gateway's side: capture of exact usage as responses pass, the prompt digest,
// and the recorder that enqueues one job per request (or spools it) after the response ended.
export { createKnownHashes } from './known-hashes.js';
export type { KnownHashes } from './known-hashes.js';
export { createPromptDigester } from './prompt-digest.js';
export type { DigestSource, PromptDigester, PromptDigesterDeps } from './prompt-digest.js';
export { createResponseCapture } from './response-capture.js';
export type { CaptureLimits, CaptureResult, ResponseCapture } from './response-capture.js';
export { usageJobOf } from './usage-draft.js';
export type { UsageDraft } from './usage-draft.js';
export { createUsageRecorder } from './usage-recorder.js';
export type { RedisLink, UsageJobOptions, UsageQueue, UsageRecorder, UsageRecorderDeps, UsageRecorderStats } from './usage-recorder.js';
export { trackRequestUsage } from './request-usage.js';
export type { RequestUsage } from './request-usage.js';
