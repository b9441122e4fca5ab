// Exactly-once totals: the idempotency marker and every increment in one Lua script, so a retried,
// stalled or duplicated job either counts everything once or finds the marker and counts nothing.
import type { ChainableCommander, Redis } from 'ioredis';
import {
  RECENT_REQUESTS_KEPT,
  USAGE_COUNTER_FIELDS,
  sentTokens,
  utcDay,
  utcMonth,
  type Keyspace,
  type RecentRequest,
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

/**
 * KEYS: 1 done marker, 2 all-time hash, 3 recent list, 4 global day hash, 5 the key's month hash, 6 the day's
 * price-version set, then pairs (day hash, index set) for each scope that has an id. ARGV: 1 marker TTL,
 * 2 retention seconds, 3 recent entry, 4 entries kept, 5 price-data version, 6 n = number of fields, 7.. n
 * field/increment pairs, then one index member per pair of KEYS.
 * Returns 1 when counted, 0 when the request was counted before.
 */
const RECORD_USAGE_LUA = `
if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end
local retention = ARGV[2]
local n = tonumber(ARGV[6])
local function add(hash)
  for i = 0, n - 1 do redis.call('HINCRBY', hash, ARGV[7 + 2 * i], ARGV[8 + 2 * i]) end
end
add(KEYS[2])
add(KEYS[4])
redis.call('EXPIRE', KEYS[4], retention)
add(KEYS[5])
redis.call('EXPIRE', KEYS[5], retention)
redis.call('SADD', KEYS[6], ARGV[5])
redis.call('EXPIRE', KEYS[6], retention)
local member = 7 + 2 * n
for k = 7, #KEYS, 2 do
  add(KEYS[k])
  redis.call('EXPIRE', KEYS[k], retention)
  redis.call('SADD', KEYS[k + 1], ARGV[member])
  redis.call('EXPIRE', KEYS[k + 1], retention)
  member = member + 1
end
redis.call('LPUSH', KEYS[3], ARGV[3])
redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[4]) - 1)
return 1
`;
const COMMAND = 'syRecordUsage';

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
  keys: string[];
  members: string[];
}

/** Throws a RangeError when an id cannot be part of a key (whitespace, an empty id, a bad day). */
export function usageJobKeys(keys: Keyspace, job: UsageJob): UsageJobKeys {
  const day = utcDay(job.at);
  const scoped: [string, string][] = [
    [keys.usage('key', job.keyId, day), keys.usageIndex('key', day)],
    [keys.usage('model', job.model, day), keys.usageIndex('model', day)],
  ];
  const members = [job.keyId, job.model];
  if (job.nodeId !== null) {
    scoped.push([keys.usage('node', job.nodeId, day), keys.usageIndex('node', day)]);
    members.push(job.nodeId);
  }
  return {
    keys: [
      keys.usageDone(job.requestId),
      keys.usageAllTime(),
      keys.recent(),
      keys.usage('global', 'all', day),
      keys.usageMonth(job.keyId, utcMonth(job.at)),
      keys.usagePriceVersions(day),
      ...scoped.flat(),
    ],
    members,
  };
}

/** A pipeline of a client the script was defined on (defineCommand adds it to the client's pipelines). */
type RecordingPipeline = ChainableCommander &
  Record<typeof COMMAND, (numberOfKeys: number, ...args: string[]) => ChainableCommander>;

/** The usage hashes, index sets, month hash, price versions and recent list, written exactly once per request. */
export interface UsageTotals {
  /**
   * Adds the request's counters everywhere, once: false when it was counted before. `before` adds other writes
   * (the job's block counts) to the same pipeline, so the whole job's writing is one round trip.
   */
  record(
    target: UsageJobKeys,
    counters: UsageCounters,
    recent: RecentRequest,
    before?: (pipeline: ChainableCommander) => void,
  ): Promise<boolean>;
}

/**
 * Defines the script on `redis` (EVALSHA, with EVAL after a SCRIPT FLUSH or a failover).
 * @example
 * const totals = createUsageTotals({ redis, retentionDays: 400, priceVersion: priceBook.version });
 * const counted = await totals.record(usageJobKeys(keys, job), counters, recentEntry(job, counters));
 */
export function createUsageTotals(deps: {
  redis: Redis;
  retentionDays: number;
  /** PriceBook.version: recorded with each day's totals. */ priceVersion: string;
}): UsageTotals {
  deps.redis.defineCommand(COMMAND, { lua: RECORD_USAGE_LUA });
  const retentionSeconds = String(deps.retentionDays * 86_400);
  return {
    async record(target, counters, recent, before) {
      const fields: string[] = [];
      for (const field of USAGE_COUNTER_FIELDS) {
        if (counters[field] !== 0) fields.push(field, String(counters[field]));
      }
      const argv = [
        String(USAGE_DONE_TTL_SECONDS),
        retentionSeconds,
        JSON.stringify(recent),
        String(RECENT_REQUESTS_KEPT),
        deps.priceVersion,
        String(fields.length / 2),
        ...fields,
        ...target.members,
      ];
      const pipeline = deps.redis.pipeline();
      before?.(pipeline);
      // defineCommand adds the script to pipelines too (EVALSHA, falling back to EVAL).
      (pipeline as unknown as RecordingPipeline)[COMMAND](target.keys.length, ...target.keys, ...argv);
      const replies = (await pipeline.exec()) ?? [];
      const failed = replies.find(([err]) => err);
      if (failed?.[0]) throw failed[0];
      return replies.at(-1)?.[1] === 1;
    },
  };
}
