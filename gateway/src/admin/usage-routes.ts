// /admin/usage: the totals the usage worker keeps per UTC day, summed over a range and grouped, how far
// the worker lags behind (the usage queue's depth and the age of its oldest waiting job), and the
// recent-requests list. Read-only: every key read here is written by the worker (gateway/src/usage-worker).
// Dollars are summed as the integer micro-dollars Redis holds and turned into USD once, at the end.
import express, { type Request, type Response, type Router } from 'express';
import {
  AppError,
  RecentRequestSchema,
  utcDay,
  utcMonth,
  type Keyspace,
  type RecentRequest,
  type SharedStore,
  type UsageCounters,
  type UsageScope,
} from '@switchyard/shared';
import type { z } from 'zod';
import { parseKeyRecord } from '../keys/index.js';
import { DEFAULT_LAG_WARN_SECONDS } from '../usage/lag-watcher.js';
import type { QueueLag, QueueLagReader } from '../usage/queue-lag.js';
import { MAX_USAGE_RANGE_DAYS, RecentUsageQuerySchema, UsageQuerySchema, type UsageGrouping } from './admin-schemas.js';
import {
  addHash,
  microsToUsd,
  sumHashes,
  withSums,
  zeroCounters,
  type UsageMonth,
  type UsageTotals,
} from './usage-sums.js';

export type { UsageMonth, UsageTotals } from './usage-sums.js';

/** One row of GET /admin/usage: a key, node, model or day, with its totals over the range. */
export type UsageRow = UsageTotals & {
  id: string;
  /** by=key: the key's name, while the key record exists. */
  name?: string;
  /** by=day: the price-data versions that priced the day's requests, sorted (empty when none was priced). */
  priceVersions?: string[];
  /** by=key: the key's totals for the current UTC month (the gateway's clock), whatever the range. */
  month?: UsageMonth;
};

/** The usage queue as GET /admin/usage shows it: jobs per state and the lag. */
export interface UsageQueueFigures {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  /** Seconds the oldest waiting job has waited to be counted (0: none waits). */
  lagSeconds: number;
}

/** The answer of GET /admin/usage. */
export interface UsageReport {
  by: UsageGrouping;
  from: string;
  to: string;
  /** by=day: one row per day of the range, oldest first; otherwise the busiest (sent + received) first. */
  rows: UsageRow[];
  /** All requests in the range (global counters), so also those no row shows (by=node: answered by no node). */
  totals: UsageTotals;
  /** The price-data versions that priced any request of the range, sorted. */
  priceVersions: string[];
  /** Since counting began, whatever the range. */
  allTime: UsageTotals;
  /**
   * How far the counted totals trail the traffic: the oldest waiting usage job's age in seconds. null when
   * Redis did not answer within the deadline (the totals above are still answered).
   */
  lagSeconds: number | null;
  /** The usage queue's depth and lag; null when Redis did not answer within the deadline. */
  queue: UsageQueueFigures | null;
  /** USAGE_LAG_WARN_SECONDS: lag above it is a warning (the gateway logs it; the dashboard shows it). */
  lagWarnSeconds: number;
}

/** One entry of GET /admin/usage/recent: the worker's summary, with its dollars in USD beside the micros. */
export type RecentRequestView = RecentRequest & {
  /** costMicros in US dollars (0 with `priced: false`: the model had no price). */
  costUsd: number;
  /** cacheSavingsMicros in US dollars. */
  cacheSavingsUsd: number;
};

/** Dependencies of the usage routes. */
export interface UsageRoutesDeps {
  store: Pick<SharedStore, 'hgetall' | 'smembers' | 'mget' | 'lrange'>;
  keys: Pick<
    Keyspace,
    'usage' | 'usageIndex' | 'usageAllTime' | 'usageMonth' | 'usagePriceVersions' | 'recent' | 'keyById'
  >;
  now: () => number;
  /** Reads the usage queue's lag (none: lagSeconds and queue answer null). */
  queueLag?: QueueLagReader;
  /** The warning threshold the report carries; default 60. */
  lagWarnSeconds?: number;
}

const DAY_MS = 86_400_000;
/** The default range: today and the six days before. */
const DEFAULT_RANGE_DAYS = 7;
// Bounds the reads in flight: a year of days times a few hundred keys must not queue 100k commands at once.
const READS_IN_FLIGHT = 500;

/** Validates a query string, or throws a 400 naming every problem. */
function parseQuery<S extends z.ZodType>(schema: S, query: unknown): z.output<S> {
  const parsed = schema.safeParse(query);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(query)'}: ${i.message}`);
  throw new AppError('bad_request', `Invalid query: ${problems.join('; ')}`);
}

function dayMs(day: string): number {
  return Date.parse(`${day}T00:00:00Z`);
}

/** The days of the range, oldest first; to defaults to today, from to six days before to. */
function resolveRange(
  from: string | undefined,
  to: string | undefined,
  today: string,
): { from: string; to: string; days: string[] } {
  const last = to ?? today;
  const first = from ?? utcDay(dayMs(last) - (DEFAULT_RANGE_DAYS - 1) * DAY_MS);
  if (first > last) throw new AppError('bad_request', `Invalid query: from (${first}) is after to (${last})`);
  const count = (dayMs(last) - dayMs(first)) / DAY_MS + 1;
  if (count > MAX_USAGE_RANGE_DAYS) {
    throw new AppError(
      'bad_request',
      `Invalid query: the range spans ${count} days; at most ${MAX_USAGE_RANGE_DAYS} are allowed`,
    );
  }
  const days = Array.from({ length: count }, (_, i) => utcDay(dayMs(first) + i * DAY_MS));
  return { from: first, to: last, days };
}

function queueFigures(lag: QueueLag | undefined): UsageQueueFigures | null {
  if (lag === undefined) return null;
  const { waiting, active, delayed, failed } = lag.depth;
  return { waiting, active, delayed, failed, lagSeconds: lag.lagSeconds };
}

async function mapBounded<T, R>(items: readonly T[], f: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += READS_IN_FLIGHT) {
    out.push(...(await Promise.all(items.slice(i, i + READS_IN_FLIGHT).map(f))));
  }
  return out;
}

// An id the keyspace refuses (whitespace, or ':' in a key id) cannot have been written by the worker: skip it.
function keyOrUndefined(build: () => string): string | undefined {
  try {
    return build();
  } catch (err) {
    if (err instanceof RangeError) return undefined;
    throw err;
  }
}

/** What the routes read with: the deps, their defaults applied. */
interface UsageReads {
  store: UsageRoutesDeps['store'];
  keys: UsageRoutesDeps['keys'];
  now: () => number;
  readLag: QueueLagReader;
  lagWarnSeconds: number;
}

/** The usage routes. */
export function createUsageRoutes(deps: UsageRoutesDeps): Router {
  const reads: UsageReads = {
    store: deps.store,
    keys: deps.keys,
    now: deps.now,
    readLag: deps.queueLag ?? (() => Promise.resolve(undefined)),
    lagWarnSeconds: deps.lagWarnSeconds ?? DEFAULT_LAG_WARN_SECONDS,
  };
  const router = express.Router();

  router.get('/usage', async function getUsage(req: Request, res: Response): Promise<void> {
    const query = parseQuery(UsageQuerySchema, req.query);
    const { from, to, days } = resolveRange(query.from, query.to, utcDay(reads.now()));
    res.json(await usageReport(reads, query.by, { from, to, days }));
  });

  router.get('/usage/recent', async function getRecentUsage(req: Request, res: Response): Promise<void> {
    const { limit } = parseQuery(RecentUsageQuerySchema, req.query);
    res.json({ requests: await recentRequests(reads, limit) });
  });

  return router;
}

/** GET /admin/usage: the range's totals, its rows grouped `by`, all-time totals and the queue's lag. */
async function usageReport(
  reads: UsageReads,
  by: UsageGrouping,
  range: { from: string; to: string; days: readonly string[] },
): Promise<UsageReport> {
  const { store, keys } = reads;
  const { days } = range;
  const dayKeys = days.map((day) => keys.usage('global', 'all', day));
  const [dayHashes, dayVersions, allTimeHash, grouped, lag] = await Promise.all([
    readHashes(reads, dayKeys),
    mapBounded(days, async (day) => (await store.smembers(keys.usagePriceVersions(day))).sort()),
    store.hgetall(keys.usageAllTime()),
    by === 'day' ? undefined : scopeRows(reads, by, days),
    reads.readLag(),
  ]);
  let rows: UsageRow[];
  if (grouped === undefined) rows = dayRows(days, dayHashes, dayVersions);
  else {
    rows = busiestFirst(grouped);
    if (by === 'key') await Promise.all([addKeyNames(reads, rows), addKeyMonths(reads, rows)]);
  }
  const queue = queueFigures(lag);
  return {
    by,
    from: range.from,
    to: range.to,
    rows,
    totals: withSums(sumHashes(dayHashes)),
    priceVersions: [...new Set(dayVersions.flat())].sort(),
    allTime: withSums(sumHashes([allTimeHash])),
    lagSeconds: queue?.lagSeconds ?? null,
    queue,
    lagWarnSeconds: reads.lagWarnSeconds,
  };
}

/** by=day: one row per day of the range, with the price-data versions that priced it. */
function dayRows(
  days: readonly string[],
  dayHashes: readonly Record<string, string>[],
  dayVersions: readonly string[][],
): UsageRow[] {
  return days.map((day, i) => ({
    id: day,
    ...withSums(sumHashes([dayHashes[i] ?? {}])),
    priceVersions: dayVersions[i] ?? [],
  }));
}

function busiestFirst(rows: UsageRow[]): UsageRow[] {
  return rows.sort(
    (a, b) => b.sentTokens + b.receivedTokens - (a.sentTokens + a.receivedTokens) || (a.id < b.id ? -1 : 1),
  );
}

function readHashes(reads: UsageReads, hashKeys: readonly string[]): Promise<Record<string, string>[]> {
  return mapBounded(hashKeys, (key) => reads.store.hgetall(key));
}

/** One row per id of the scope that has usage on any day of the range, summed over those days. */
async function scopeRows(
  reads: UsageReads,
  scope: Exclude<UsageScope, 'global'>,
  days: readonly string[],
): Promise<UsageRow[]> {
  const { store, keys } = reads;
  const idsPerDay = await mapBounded(days, (day) => store.smembers(keys.usageIndex(scope, day)));
  const hashReads = days.flatMap((day, i) =>
    (idsPerDay[i] ?? []).flatMap((id) => {
      const key = keyOrUndefined(() => keys.usage(scope, id, day));
      return key === undefined ? [] : [{ id, key }];
    }),
  );
  const hashKeys = hashReads.map((r) => r.key);
  const hashes = await readHashes(reads, hashKeys);
  const sums = new Map<string, UsageCounters>();
  hashReads.forEach(({ id }, i) => {
    const sum = sums.get(id) ?? zeroCounters();
    addHash(sum, hashes[i] ?? {});
    sums.set(id, sum);
  });
  return [...sums].map(([id, counters]) => ({ id, ...withSums(counters) }));
}

async function addKeyNames(reads: UsageReads, rows: UsageRow[]): Promise<void> {
  const recordKeys = rows.map((row) => keyOrUndefined(() => reads.keys.keyById(row.id)));
  const present = recordKeys.filter((key) => key !== undefined);
  const raws = await reads.store.mget(present);
  const byKey = new Map(present.map((key, i) => [key, raws[i] ?? null]));
  rows.forEach((row, i) => {
    const raw = recordKeys[i] === undefined ? null : byKey.get(recordKeys[i]);
    const name = raw == null ? undefined : parseKeyRecord(raw)?.name;
    if (name !== undefined) row.name = name;
  });
}

/** by=key: each key's totals for the current UTC month, one read per row. */
async function addKeyMonths(reads: UsageReads, rows: UsageRow[]): Promise<void> {
  const month = utcMonth(reads.now());
  const monthKeys = rows.map((row) => keyOrUndefined(() => reads.keys.usageMonth(row.id, month)));
  const hashes = await mapBounded(monthKeys, (key) =>
    key === undefined ? Promise.resolve({}) : reads.store.hgetall(key),
  );
  rows.forEach((row, i) => {
    row.month = { month, ...withSums(sumHashes([hashes[i] ?? {}])) };
  });
}

/** GET /admin/usage/recent: up to `limit` of the worker's summaries, with their dollars in USD beside the micros. */
async function recentRequests(reads: UsageReads, limit: number): Promise<RecentRequestView[]> {
  const raws = await reads.store.lrange(reads.keys.recent(), 0, limit - 1);
  const requests: RecentRequestView[] = [];
  for (const raw of raws) {
    const entry = parseRecent(raw);
    if (entry !== undefined)
      requests.push({
        ...entry,
        costUsd: microsToUsd(entry.costMicros),
        cacheSavingsUsd: microsToUsd(entry.cacheSavingsMicros),
      });
  }
  return requests;
}

// An entry from another version or a torn write is skipped, not a 500 for the whole list.
function parseRecent(raw: string): RecentRequest | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = RecentRequestSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
