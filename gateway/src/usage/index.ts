// Usage accounting on the gateway's side: capture of exact usage as responses pass, the prompt digest,
// the recorder that enqueues one job per request (or spools it) after the response ended, and how far the
// usage queue lags behind (read for metrics, /admin/usage and the lag watcher).
export { createKnownHashes } from './known-hashes.js';
export type { KnownHashes } from './known-hashes.js';
export { createPromptDigester } from './prompt-digest.js';
export type { DigestSource, PromptDigester, PromptDigesterDeps } from './prompt-digest.js';
export { createResponseCapture } from './response-capture.js';
export type { CaptureLimits, CaptureResult, ResponseCapture } from './response-capture.js';
export { usageJobOf } from './usage-draft.js';
export type { UsageDraft } from './usage-draft.js';
export { createUsageRecorder } from './usage-recorder.js';
export type {
  RedisLink,
  UsageJobOptions,
  UsageQueue,
  UsageRecorder,
  UsageRecorderDeps,
  UsageRecorderStats,
} from './usage-recorder.js';
export { trackRequestUsage } from './request-usage.js';
export type { RequestUsage } from './request-usage.js';
export { QUEUE_STATES, createQueueLagReader, shareQueueLag } from './queue-lag.js';
export type { LagQueue, QueueLag, QueueLagReader, QueueLagReaderDeps, QueueState } from './queue-lag.js';
export { DEFAULT_LAG_WARN_SECONDS, LAG_RECOVERED_MESSAGE, LAG_WARN_MESSAGE, createLagWatcher } from './lag-watcher.js';
export type { IntervalTimers, LagWatcher, LagWatcherDeps } from './lag-watcher.js';
