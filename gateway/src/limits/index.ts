// Per-key limits: allowed models and betas (checked where the request names them), requests per minute, concurrency, and the daily token and USD budgets.
export {
  createKeyLimiter,
  type Admission,
  type Admitted,
  type BudgetRefusal,
  type KeyLimiter,
  type KeyLimiterDeps,
  type RequestReservation,
} from './key-limiter.js';
export { formatUsd } from './budget-check.js';
export { requestReservation } from './request-reservation.js';
export type { LimitStore } from './limit-sync.js';
export { hasBudget, type LimitedKey } from './limit-state.js';
export { isModelAllowed, modelRefusal } from './model-match.js';
export { betaRefusal } from './beta-match.js';
