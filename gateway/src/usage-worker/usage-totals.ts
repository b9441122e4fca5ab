// Exactly-once totals: the idempotency marker and every increment in one atomic store write (writeOnce), so a
// retried, stalled or duplicated job either counts everything once or finds the marker and counts nothing.
import {
  RECENT_REQUESTS_KEPT,
  USAGE_COUNTER_FIELDS,
  sentTokens,
  utcDay,
  utcMonth,
  type Keyspace,
  type OnceStore,
  type RecentRequest,
  type RenewingWrite,
  type UsageCounters,
  type UsageJob,
} from '@switchyard/shared';
import { chargedUsage, type CostCounters } from './usage-cost.js';

/** How long a request id stays marked as counted: far longer than any job's retries and backoff. */
export const USAGE_DONE_TTL_SECONDS = 30 * 86_400;

/** The js-tiktoken side of one request's counts. */
export interface UsageEstimates {
  estimatedInputTokens: number;
  estimatedOutputTokens: number;
  estimateMissingBlocks: number;
  /** Part of the estimate came from text length, not the tokeniser (its budget ran out, now or when a block was first counted). */
  approximate: boolean;
}

/** Whether the request counts as an error: a failed answer (not the client's own hang-up, 499) or a stream that broke off. */
export function isError(job: Pick<UsageJob, 'status' | 'brokeMidStream'>): boolean {
  return (job.status >= 400 && job.status !== 499) || job.brokeMidStream;
}

/** The increments one request adds to each of its usage hashes; `cost` from jobCost() (usage-cost.ts). */
export function usageCounters(job: UsageJob, est: UsageEstimates, cost: CostCounters): UsageCounters {
  const u = job.usage;
  const charged = chargedUsage(job, est);
  return {
    requests: 1,
    errors: isError(job) ? 1 : 0,
    aborted: job.aborted ? 1 : 0,
    inputTokens: u?.inputTokens ?? 0,
    outputTokens: u?.outputTokens ?? 0,
    cacheCreationInputTokens: u?.cacheCreationInputTokens ?? 0,
    cacheCreation5mInputTokens: u?.cacheCreation5mInputTokens ?? 0,
    cacheCreation1hInputTokens: u?.cacheCreation1hInputTokens ?? 0,
    cacheReadInputTokens: u?.cacheReadInputTokens ?? 0,
    estimatedInputTokens: est.estimatedInputTokens,
    estimatedOutputTokens: est.estimatedOutputTokens,
    estimateMissingBlocks: est.estimateMissingBlocks,
    approximateEstimates: est.approximate ? 1 : 0,
    durationMs: Math.round(job.durationMs),
    ...cost,
    cacheMisses: (u?.cacheCreationInputTokens ?? 0) > 0 && (u?.cacheReadInputTokens ?? 0) === 0 ? 1 : 0,
    stickyMoves: job.sticky === 'moved' ? 1 : 0,
    chatCompletionRequests: job.route === 'chat_completions' ? 1 : 0,
    chargedTokens: sentTokens(charged) + charged.outputTokens,
  };
}

/** The dashboard's line for one request, from its counters: counts and timings, never text. */
export function recentEntry(job: UsageJob, counters: UsageCounters): RecentRequest {
  return {
    requestId: job.requestId,
    at: job.at,
    keyId: job.keyId,
    nodeId: job.nodeId,
    model: job.model,
    stream: job.stream,
    status: job.status,
    aborted: job.aborted,
    stopReason: job.stopReason,
    inputTokens: counters.inputTokens,
    outputTokens: counters.outputTokens,
    cacheCreationInputTokens: counters.cacheCreationInputTokens,
    cacheReadInputTokens: counters.cacheReadInputTokens,
    estimatedInputTokens: counters.estimatedInputTokens,
    estimatedOutputTokens: counters.estimatedOutputTokens,
    estimateApproximate: counters.approximateEstimates > 0,
    durationMs: counters.durationMs,
    ttfbMs: job.ttfbMs === null ? null : Math.round(job.ttfbMs),
    costMicros: counters.costMicros,
    priced: counters.unpricedRequests === 0,
    cacheSavingsMicros: counters.cacheSavingsMicros,
    route: job.route,
  };
}

/** Every key one job writes, built (and so validated) before any work is done. */
export interface UsageJobKeys {
  /** The request's marker (keys.usageDone): counted once it exists. */
  done: string;
  allTime: string;
  recent: string;
  globalDay: string;
  month: string;
  priceVersions: string;
  /** Per scope with an id (key, model, node): its day hash, and the day's index set listing the id. */
  scoped: { hash: string; index: string; member: string }[];
}

/** Throws a RangeError when an id cannot be part of a key (whitespace, an empty id, a bad day). */
export function usageJobKeys(keys: Keyspace, job: UsageJob): UsageJobKeys {
  const day = utcDay(job.at);
  const scoped = [
    { hash: keys.usage('key', job.keyId, day), index: keys.usageIndex('key', day), member: job.keyId },
    { hash: keys.usage('model', job.model, day), index: keys.usageIndex('model', day), member: job.model },
  ];
  if (job.nodeId !== null) {
    scoped.push({ hash: keys.usage('node', job.nodeId, day), index: keys.usageIndex('node', day), member: job.nodeId });
  }
  return {
    done: keys.usageDone(job.requestId),
    allTime: keys.usageAllTime(),
    recent: keys.recent(),
    globalDay: keys.usage('global', 'all', day),
    month: keys.usageMonth(job.keyId, utcMonth(job.at)),
    priceVersions: keys.usagePriceVersions(day),
    scoped,
  };
}

/** The usage hashes, index sets, month hash, price versions and recent list, written exactly once per request. */
export interface UsageTotals {
  /**
   * Adds the request's counters everywhere, once: false when it was counted before. `alongside` are other writes
   * (the job's block counts), made either way in the same round trip, so the whole job's writing is one.
   */
  record(
    target: UsageJobKeys,
    counters: UsageCounters,
    recent: RecentRequest,
    alongside?: readonly RenewingWrite[],
  ): Promise<boolean>;
}

/**
 * @example
 * const totals = createUsageTotals({ store, retentionDays: 400, priceVersion: priceBook.version });
 * const counted = await totals.record(usageJobKeys(keys, job), counters, recentEntry(job, counters));
 */
export function createUsageTotals(deps: {
  store: Pick<OnceStore, 'writeOnce'>;
  retentionDays: number;
  /** PriceBook.version: recorded with each day's totals. */ priceVersion: string;
}): UsageTotals {
  // Every write to a day's or month's figures renews them for the retention.
  const ttlMs = deps.retentionDays * 86_400_000;
  return {
    record(target, counters, recent, alongside = []) {
      const by: Partial<Record<keyof UsageCounters, number>> = {};
      for (const field of USAGE_COUNTER_FIELDS) if (counters[field] !== 0) by[field] = counters[field];
      return deps.store.writeOnce({
        marker: { key: target.done, ttlMs: USAGE_DONE_TTL_SECONDS * 1000 },
        increments: [
          { key: target.allTime, by },
          { key: target.globalDay, by, ttlMs },
          { key: target.month, by, ttlMs },
          ...target.scoped.map((s) => ({ key: s.hash, by, ttlMs })),
        ],
        members: [
          { key: target.priceVersions, member: deps.priceVersion, ttlMs },
          ...target.scoped.map((s) => ({ key: s.index, member: s.member, ttlMs })),
        ],
        pushes: [{ key: target.recent, value: JSON.stringify(recent), keep: RECENT_REQUESTS_KEPT }],
        always: alongside,
      });
    },
  };
}
