// Per-key limits: allowed models and betas (checked where the request names them), requests per minute, concurrency and the daily token budget.
export { createKeyLimiter, type Admission, type KeyLimiter, type KeyLimiterDeps } from './key-limiter.js';
export type { LimitStore } from './limit-sync.js';
export { BUDGET_FIELDS, type LimitedKey } from './limit-state.js';
export { isModelAllowed, modelRefusal } from './model-match.js';
export { betaRefusal } from './beta-match.js';
