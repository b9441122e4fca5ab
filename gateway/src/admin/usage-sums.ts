// The figures of GET /admin/usage built from the usage hashes: counters summed exactly (every field is an integer
// the worker wrote with HINCRBY, dollars as micro-dollars), then the sums and ratios derived once, at the end.
import { sentTokens, USAGE_COUNTER_FIELDS, type UsageCounters, type UsageRoute } from '@switchyard/shared';

/** Every usage counter as a number, plus the sums and ratios operators ask for first. */
export type UsageTotals = UsageCounters & {
  /** Exact tokens sent: input + cache creation + cache reads. */
  sentTokens: number;
  /** Exact tokens received: the output tokens. */
  receivedTokens: number;
  /** costMicros in US dollars. */
  costUsd: number;
  /** apiEquivalentMicros in US dollars: what subscription accounts served, at API prices. */
  apiEquivalentUsd: number;
  /** cacheSavingsMicros in US dollars (negative when cache writes cost more than reads saved). */
  cacheSavingsUsd: number;
  /** Cache reads over every input token sent (input + cache writes + cache reads); null when nothing was sent. */
  cacheReadShare: number | null;
  /** `requests` by the client API they came in on: `chat_completions` is chatCompletionRequests, `messages` the rest. */
  requestsByRoute: Record<UsageRoute, number>;
};

/** A key's totals for one UTC month (keys.usageMonth): what its monthly USD budget counts. */
export type UsageMonth = UsageTotals & {
  /** `YYYY-MM`. */
  month: string;
};

/** Every counter at 0. */
export function zeroCounters(): UsageCounters {
  return Object.fromEntries(USAGE_COUNTER_FIELDS.map((f) => [f, 0])) as UsageCounters;
}

// Fields the worker never wrote read as 0; fields this version does not know are ignored. Every field is an
// integer (HINCRBY), so the sums are exact: no float is ever accumulated, dollars included.
export function addHash(into: UsageCounters, hash: Record<string, string>): void {
  for (const field of USAGE_COUNTER_FIELDS) {
    const value = Number(hash[field] ?? 0);
    if (Number.isFinite(value)) into[field] += value;
  }
}

/** Integer micro-dollars as US dollars: one division, after every sum. */
export function microsToUsd(micros: number): number {
  return micros / 1_000_000;
}

/** The counters with what operators read first: tokens sent and received, dollars, the cache-read share. */
export function withSums(counters: UsageCounters): UsageTotals {
  const sent = sentTokens(counters);
  return {
    ...counters,
    sentTokens: sent,
    receivedTokens: counters.outputTokens,
    costUsd: microsToUsd(counters.costMicros),
    apiEquivalentUsd: microsToUsd(counters.apiEquivalentMicros),
    cacheSavingsUsd: microsToUsd(counters.cacheSavingsMicros),
    cacheReadShare: sent === 0 ? null : counters.cacheReadInputTokens / sent,
    // Both are counted by the same script, so the difference is never negative; the floor guards a hand-edited hash.
    requestsByRoute: {
      messages: Math.max(0, counters.requests - counters.chatCompletionRequests),
      chat_completions: counters.chatCompletionRequests,
    },
  };
}

/** The exact sum of usage hashes. */
export function sumHashes(hashes: Record<string, string>[]): UsageCounters {
  const sum = zeroCounters();
  for (const hash of hashes) addHash(sum, hash);
  return sum;
}
