// What one counted request cost (docs/COST.md): its charged usage priced by the PriceBook, in micro-dollars.
import { emptyUsage, type PriceBook, type PricedUsage, type UsageCounters, type UsageJob } from '@switchyard/shared';
import type { UsageEstimates } from './usage-totals.js';

/** The dollar counters of one request. */
export type CostCounters = Pick<
  UsageCounters,
  'costMicros' | 'apiEquivalentMicros' | 'cacheSavingsMicros' | 'unpricedRequests'
>;

export const NO_COST: CostCounters = {
  costMicros: 0,
  apiEquivalentMicros: 0,
  cacheSavingsMicros: 0,
  unpricedRequests: 0,
};

/**
 * The usage a request is charged for: the exact usage, except that an aborted or broken response is charged at
 * least the estimate of what was relayed, per side (its exact usage may stop at message_start). Input past the
 * exact total is plain input.
 */
export function chargedUsage(
  job: Pick<UsageJob, 'usage' | 'aborted' | 'brokeMidStream'>,
  est: Pick<UsageEstimates, 'estimatedInputTokens' | 'estimatedOutputTokens'>,
): PricedUsage {
  const exact: PricedUsage = job.usage ?? emptyUsage();
  if (!job.aborted && !job.brokeMidStream) return exact;
  const exactInput = exact.inputTokens + exact.cacheCreationInputTokens + exact.cacheReadInputTokens;
  return {
    ...exact,
    inputTokens: exact.inputTokens + Math.max(0, est.estimatedInputTokens - exactInput),
    outputTokens: Math.max(exact.outputTokens, est.estimatedOutputTokens),
  };
}

function hasTokens(u: PricedUsage): boolean {
  return u.inputTokens + u.outputTokens + u.cacheCreationInputTokens + u.cacheReadInputTokens > 0;
}

/** The request's dollar counters; a model with no price that used tokens counts 1 unpriced request at zero cost. */
export function jobCost(
  job: Pick<UsageJob, 'model' | 'at' | 'usage' | 'aborted' | 'brokeMidStream' | 'accountKind'>,
  est: UsageEstimates,
  prices: PriceBook,
): CostCounters {
  const charged = chargedUsage(job, est);
  if (!hasTokens(charged)) return NO_COST;
  const cost = prices.cost(job.model, charged, job.at);
  if (!cost.priced) return { ...NO_COST, unpricedRequests: 1 };
  return {
    costMicros: cost.costMicros,
    // A subscription account is not billed per token: what it served is worth this at API prices.
    apiEquivalentMicros: job.accountKind === 'oauth' ? cost.costMicros : 0,
    cacheSavingsMicros: cost.cacheSavingsMicros,
    unpricedRequests: 0,
  };
}
