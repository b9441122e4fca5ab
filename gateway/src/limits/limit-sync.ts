// The background half of the limiter: adds this instance's admissions to the shared per-minute windows,
// writes its in-flight counts, and reads back what the rest of the fleet did. Never on the request path.
import { epochMinute, utcDay, utcMonth, type Keyspace, type SharedStore } from '@switchyard/shared';
import {
  dayIndexOf,
  encodeInFlight,
  encodeReserved,
  hasBudget,
  monthIndexOf,
  needsSync,
  othersInFlight,
  othersInWindow,
  othersReserved,
  usageMicros,
  usageTotal,
  type KeyState,
} from './limit-state.js';
import { dropReservation, expireReservations, pendingIds } from './reservations.js';

/** The store operations the limiter uses (any SharedStore has them). */
export type LimitStore = Pick<SharedStore, 'hincrby' | 'hgetall' | 'hset' | 'expire' | 'mget'>;

/** A rate window outlives its minute a little, so late adds from a slow instance still land in it. */
const RATE_WINDOW_TTL_MS = 120_000;
/** Renewed on every write; only a safety net, since stale fields are ignored by their timestamp. */
const CONCURRENCY_TTL_MS = 60_000;
/** The same for the reserved hash. */
const RESERVED_TTL_MS = 60_000;

/** Inputs of createLimitSync. */
export interface LimitSyncDeps {
  store: LimitStore;
  keys: Keyspace;
  now(): number;
  /** This instance's field in the shared hashes. */
  instanceId: string;
  /** The limiter's per-key states; the sync reads, updates and evicts them. */
  states: Map<string, KeyState>;
  /** Other instances' in-flight counts older than this are ignored (a crashed gateway's count ages out). */
  staleMs: number;
  /** Keys seen within this long (or with requests in flight) have their fleet numbers pulled. */
  activeMs: number;
  /** Idle keys with nothing in flight or pending are forgotten after this long. */
  evictMs: number;
  /** An ended request's reservation is dropped after this long even if its usage was never counted (worker down). */
  settleTimeoutMs: number;
  /** Told of reservations dropped by the settle timeout. */
  onSettleTimeout(keyId: string, requestIds: string[]): void;
}

/** How a sync round went: ok, or the first failure. */
export type SyncResult = { ok: true } | { ok: false; error: unknown };

/** Push and pull operations over the limiter's states. */
export interface LimitSync {
  /** Pushes every pending count, then pulls the fleet's numbers for recently seen keys; evicts idle keys. */
  round(): Promise<SyncResult>;
  /** Pulls one key's fleet numbers (a key this instance sees for the first time). */
  pull(state: KeyState): Promise<SyncResult>;
}

function settle(state: KeyState, minute: number, pushed: number): void {
  const left = (state.pendingRate.get(minute) ?? 0) - pushed;
  if (left > 0) state.pendingRate.set(minute, left);
  else state.pendingRate.delete(minute);
}

async function firstFailure(jobs: Promise<unknown>[]): Promise<SyncResult> {
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  return failed === undefined ? { ok: true } : { ok: false, error: failed.reason };
}

/** Creates the sync operations; the limiter schedules them. */
export function createLimitSync(deps: LimitSyncDeps): LimitSync {
  return {
    round: () => syncRound(deps),
    pull: (state) => firstFailure([pullKey(deps, state, deps.now())]),
  };
}

/** One round: expires overdue reservations, syncs every key that needs it, evicts idle keys. */
function syncRound(deps: LimitSyncDeps): Promise<SyncResult> {
  const nowMs = deps.now();
  const jobs: Promise<void>[] = [];
  for (const state of deps.states.values()) {
    // Before any Redis command, so a worker or a Redis that is down cannot keep a reservation for ever.
    const expired = expireReservations(state, nowMs, deps.settleTimeoutMs);
    if (expired.length > 0) deps.onSettleTimeout(state.id, expired);
    if (!needsSync(state.limits) && state.reservations.size === 0 && !state.reservedDirty) {
      state.pendingRate.clear();
      state.concDirty = false;
    } else {
      jobs.push(syncKey(deps, state, nowMs));
    }
    if (evictable(deps, state, nowMs)) deps.states.delete(state.id);
  }
  return firstFailure(jobs);
}

async function syncKey(deps: LimitSyncDeps, state: KeyState, nowMs: number): Promise<void> {
  await firstFailure([
    ...pushRate(deps, state, nowMs),
    ...pushInFlight(deps, state, nowMs),
    ...pushReserved(deps, state, nowMs),
  ]).then((r) => {
    if (!r.ok) throw r.error;
  });
  // Pulled after this instance's own push, so a round leaves the fleet's numbers as fresh as they can be.
  if (state.inFlight > 0 || state.reservations.size > 0 || nowMs - state.lastSeenMs <= deps.activeMs)
    await pullKey(deps, state, nowMs);
  // Reservations the pull settled are published now, not a round later: until then the others count them twice.
  if (state.reservedDirty) {
    const pushed = await firstFailure(pushReserved(deps, state, nowMs));
    if (!pushed.ok) throw pushed.error;
  }
}

function evictable(deps: LimitSyncDeps, state: KeyState, nowMs: number): boolean {
  return (
    nowMs - state.lastSeenMs > deps.evictMs &&
    state.inFlight === 0 &&
    state.pendingRate.size === 0 &&
    !state.concDirty &&
    state.reservations.size === 0 &&
    !state.reservedDirty
  );
}

function pushRate(deps: LimitSyncDeps, state: KeyState, nowMs: number): Promise<unknown>[] {
  if (state.limits.rpm === null) {
    state.pendingRate.clear();
    return [];
  }
  const current = epochMinute(nowMs);
  const ops: Promise<unknown>[] = [];
  for (const [minute, delta] of state.pendingRate) {
    // A closed window limits nobody any more; one minute of grace covers clock skew between gateways.
    if (minute < current - 1) {
      state.pendingRate.delete(minute);
      continue;
    }
    const add = deps.store.hincrby(
      deps.keys.rateWindow(state.id, minute),
      { [deps.instanceId]: delta },
      { ttlMs: RATE_WINDOW_TTL_MS },
    );
    ops.push(add.then(() => settle(state, minute, delta)));
  }
  return ops;
}

function pushInFlight(deps: LimitSyncDeps, state: KeyState, nowMs: number): Promise<unknown>[] {
  if (state.limits.concurrency === null) {
    state.concDirty = false;
    return [];
  }
  // Written every round while busy: the timestamp is what keeps the count alive for the other instances.
  if (state.inFlight === 0 && !state.concDirty) return [];
  state.concDirty = false;
  const key = deps.keys.concurrency(state.id);
  const write = deps.store
    .hset(key, { [deps.instanceId]: encodeInFlight(state.inFlight, nowMs) })
    .then(() => deps.store.expire(key, CONCURRENCY_TTL_MS))
    .catch((err: unknown) => {
      state.concDirty = true;
      throw err;
    });
  return [write];
}

function pushReserved(deps: LimitSyncDeps, state: KeyState, nowMs: number): Promise<unknown>[] {
  // Written every round while anything is held: the timestamp is what keeps the figures alive for the others.
  if (state.reservations.size === 0 && !state.reservedDirty) return [];
  state.reservedDirty = false;
  const key = deps.keys.budgetReserved(state.id);
  const write = deps.store
    .hset(key, { [deps.instanceId]: encodeReserved(state.reserved.micros, state.reserved.tokens, nowMs) })
    .then(() => deps.store.expire(key, RESERVED_TTL_MS))
    .catch((err: unknown) => {
      state.reservedDirty = true;
      throw err;
    });
  return [write];
}

async function pullKey(deps: LimitSyncDeps, state: KeyState, nowMs: number): Promise<void> {
  const { rpm, concurrency } = state.limits;
  const minute = epochMinute(nowMs);
  const [window, inFlight] = await Promise.all([
    rpm === null ? undefined : deps.store.hgetall(deps.keys.rateWindow(state.id, minute)),
    concurrency === null ? undefined : deps.store.hgetall(deps.keys.concurrency(state.id)),
    pullBudgets(deps, state, nowMs),
  ]);
  if (window) state.remoteRate = { minute, count: othersInWindow(window, deps.instanceId) };
  if (inFlight)
    state.remoteConc = { count: othersInFlight(inFlight, deps.instanceId, nowMs, deps.staleMs), atMs: nowMs };
}

/**
 * The budget figures, in two steps. First the done markers of this instance's ended requests and the other
 * instances' reservations, then the counted totals: a total read after a marker (or after another instance
 * dropped a reservation, which it does only once it saw that request's marker) includes that request, so a
 * request is never missing from both the reservations and the totals. At worst it is in both for a round.
 */
async function pullBudgets(deps: LimitSyncDeps, state: KeyState, nowMs: number): Promise<void> {
  const { dailyTokenBudget, dailyUsdBudget, monthlyUsdBudget } = state.limits;
  const pending = pendingIds(state);
  const [done, reserved] = await Promise.all([
    pending.length === 0 ? [] : deps.store.mget(pending.map((id) => deps.keys.usageDone(id))),
    hasBudget(state.limits) ? deps.store.hgetall(deps.keys.budgetReserved(state.id)) : undefined,
  ]);
  const [day, month] = await Promise.all([
    dailyTokenBudget === null && dailyUsdBudget === null
      ? undefined
      : deps.store.hgetall(deps.keys.usage('key', state.id, utcDay(nowMs))),
    monthlyUsdBudget === null ? undefined : deps.store.hgetall(deps.keys.usageMonth(state.id, utcMonth(nowMs))),
  ]);
  pending.forEach((id, i) => {
    if (done[i] !== null && done[i] !== undefined) dropReservation(state, id);
  });
  if (reserved)
    state.remoteReserved = { ...othersReserved(reserved, deps.instanceId, nowMs, deps.staleMs), atMs: nowMs };
  if (day) state.budget = { dayIndex: dayIndexOf(nowMs), used: usageTotal(day), micros: usageMicros(day) };
  if (month) state.monthSpend = { monthIndex: monthIndexOf(nowMs), micros: usageMicros(month) };
  if (reserved) state.budgetRead = true;
}
