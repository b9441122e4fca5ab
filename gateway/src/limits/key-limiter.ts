// Per-key limits on the request path: a synchronous decision from local counts plus the fleet's numbers as of
// the last background sync. See createKeyLimiter for the consistency this buys and what it costs.
import { randomBytes } from 'node:crypto';
import { AppError, type Keyspace, type Logger } from '@switchyard/shared';
import { budgetRefusal, reservationRefusal, type BudgetFigures, type ReservationAsk } from './budget-check.js';
import { createLimitSync, type LimitStore } from './limit-sync.js';
import {
  hasBudget,
  needsSync,
  newKeyState,
  secondsToNextMinute,
  type KeyState,
  type LimitedKey,
} from './limit-state.js';
import { endReservation, holdReservation } from './reservations.js';
import { createSyncRunner, type SyncRunner } from './sync-runner.js';

/** A request's reservation against its key's budgets, asked for once its body is parsed. */
export interface RequestReservation extends ReservationAsk {
  /** The request's id: the usage worker's keys.usageDone marker settles the reservation. */
  requestId: string;
}

/** An admitted request's handle. */
export interface Admitted {
  ok: true;
  /**
   * Holds the request's reservation (synchronous), or answers the 429 to send when it would pass a budget.
   * A key without budgets holds nothing. Call at most once.
   */
  reserve(reservation: RequestReservation): AppError | undefined;
  /**
   * While this instance has not yet read the key's budget figures (it saw the key for the first time a moment
   * ago), the read under way: wait for it (bounded) before reserve(), so a burst at first sight is measured
   * against what the key has spent. Undefined when there is nothing to wait for (no budget, figures read, or no
   * read possible: Redis is down).
   */
  budgetFiguresRead(): Promise<void> | undefined;
  /**
   * The request ended (a second call does nothing). `awaitUsage`: it reached a node, so its reservation is kept
   * until its usage is counted (or the settle timeout); otherwise the reservation goes at once.
   */
  release(opts?: { awaitUsage?: boolean }): void;
}

/** The answer of admit(): go ahead (and call release() once when the request ends), or the error to send. */
export type Admission = Admitted | { ok: false; error: AppError };

/**
 * Enforces each key's requests per minute, concurrent requests and daily token budget: all decided from the
 * key alone, before the request's body is read. The model a request names is checked after the parse
 * (modelRefusal in model-match.ts).
 */
export interface KeyLimiter {
  /**
   * Synchronous decision (no awaits): under the budgets (counted plus reserved)? under rpm? under concurrency?
   * On success returns reserve() and release() (see Admitted). On refusal an AppError: 429 budget_exhausted /
   * rate_limited with retryAfterSec.
   */
  admit(key: LimitedKey, nowMs?: number): Admission;
  /** Starts the background sync (every syncIntervalMs). */
  start(): void;
  /** Stops the sync after one last bounded push (so other instances stop counting this one's requests). */
  stop(): Promise<void>;
  /** Runs one sync round now (after any running one); resolves to whether Redis answered every command. */
  syncNow(): Promise<boolean>;
  /** Whether the last sync round had no failed Redis command (vacuously true while no key needs syncing). */
  redisHealthy(): boolean;
}

/** Inputs of createKeyLimiter. */
export interface KeyLimiterDeps {
  store: LimitStore;
  keys: Keyspace;
  log: Logger;
  /** Epoch ms; default Date.now. */
  now?: () => number;
  /** How often counts are pushed to and pulled from Redis. Default 1000. */
  syncIntervalMs?: number;
  /** This instance's field in the shared hashes; default random. */
  instanceId?: string;
  /** How long an ended request's reservation waits for its usage to be counted before it is dropped. Default 10 min. */
  settleTimeoutMs?: number;
  /**
   * Told when a request is refused because what the key has counted leaves too little of a budget for it (not when
   * only requests in flight hold the rest): the budget alert's cue, since reservations keep the counted spend
   * itself below 100 %. Must return at once.
   */
  onBudgetRefused?(refusal: BudgetRefusal): void;
}

/** A key refused for a budget its counted spend leaves too little of. */
export interface BudgetRefusal {
  keyId: string;
  budget: BudgetFigures;
  /** What the refused request asked to hold, in the budget's unit. */
  asked: number;
  nowMs: number;
}

const ACTIVE_MS = 120_000;
const EVICT_MS = 600_000;
const SETTLE_TIMEOUT_MS = 600_000;

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer`);
  return value;
}

function refusal(error: AppError): Admission {
  return { ok: false, error };
}

// The checks in order of how long the client must wait: a day, then the minute, then a second.
function checkLimits(state: KeyState, nowMs: number, staleMs: number): AppError | undefined {
  const { rpm, concurrency } = state.limits;
  if (hasBudget(state.limits)) {
    const error = budgetRefusal(state, nowMs, staleMs);
    if (error !== undefined) return error;
  }
  if (rpm !== null) {
    const remote = state.remoteRate?.minute === state.minute ? state.remoteRate.count : 0;
    if (state.localInMinute + remote >= rpm) {
      return new AppError(
        'rate_limited',
        `This API key's rate limit of ${rpm} requests per minute has been exceeded.`,
        {
          retryAfterSec: secondsToNextMinute(nowMs),
        },
      );
    }
  }
  if (concurrency !== null) {
    const remote =
      state.remoteConc !== undefined && nowMs - state.remoteConc.atMs <= staleMs ? state.remoteConc.count : 0;
    if (state.inFlight + remote >= concurrency) {
      return new AppError(
        'rate_limited',
        `This API key allows ${concurrency} concurrent requests; wait for one to finish.`,
        { retryAfterSec: 1 },
      );
    }
  }
  return undefined;
}

function admitted(
  state: KeyState,
  now: () => number,
  staleMs: number,
  onBudgetRefused: KeyLimiterDeps['onBudgetRefused'],
): Admitted {
  let released = false;
  let requestId: string | undefined;
  return {
    ok: true,
    reserve(r) {
      if (released || requestId !== undefined || !hasBudget(state.limits)) return undefined;
      const refused = reservationRefusal(state, r, now(), staleMs);
      if (refused !== undefined) {
        // What is counted no longer leaves room for it: the key is out until the reset (whatever is in flight).
        if (!refused.heldOnly)
          onBudgetRefused?.({ keyId: state.id, budget: refused.budget, asked: refused.asked, nowMs: now() });
        return refused.error;
      }
      requestId = r.requestId;
      holdReservation(state, r.requestId, r.micros, r.tokens);
      return undefined;
    },
    budgetFiguresRead() {
      return hasBudget(state.limits) && !state.budgetRead ? state.firstRead : undefined;
    },
    release(opts) {
      if (released) return;
      released = true;
      state.inFlight--;
      state.concDirty = true;
      state.lastSeenMs = now();
      if (requestId !== undefined) endReservation(state, requestId, opts?.awaitUsage === true, state.lastSeenMs);
    },
  };
}

/**
 * Creates the limiter. Local first, shared in the background: admit() counts this instance's requests per key
 * (per minute and in flight) in memory and adds the other instances' numbers as last read from Redis; every
 * syncIntervalMs the instance adds its new admissions to the key's minute window (keys.rateWindow, one hash
 * field per instance), writes its in-flight count with a timestamp (keys.concurrency, one field per instance,
 * ignored once older than max(5 intervals, 5 s), so a crashed gateway's requests age out), and reads back the
 * windows, in-flight counts and the key's usage totals (keys.usage('key', id, day) and keys.usageMonth: token
 * fields and costMicros) of keys seen in the last two minutes. A key seen for the first time is read at once in the background.
 *
 * Budgets (daily tokens, daily and monthly USD) count what the worker has counted plus reservations: each
 * request holds the most it can cost once its body is parsed, kept past its end until the sync sees the
 * worker's keys.usageDone marker for it (or settleTimeoutMs passes), and each instance publishes its reserved
 * total per key (keys.budgetReserved, one field per instance, ignored once stale) for the others. The bound
 * this gives is in docs/BUDGETS.md.
 *
 * Consistency window: a request admitted by one instance is visible to the others after its next push and their
 * next pull, i.e. within about one sync interval (two at worst). In that window each of N instances may admit up
 * to the remaining allowance, so the fleet can exceed rpm or concurrency by up to (N−1)× what was left for one
 * interval (for budgets: what the others reserve within that interval). When Redis is down each instance
 * enforces on its own counts (plus the last numbers read, for the current minute, day and month) and nothing on
 * the request path waits; the sync resumes when Redis returns.
 */
export function createKeyLimiter(deps: KeyLimiterDeps): KeyLimiter {
  return new LocalFirstKeyLimiter(deps);
}

/** Each key's counts in memory (states), pushed and pulled by the sync runner in the background. */
class LocalFirstKeyLimiter implements KeyLimiter {
  readonly #now: () => number;
  readonly #staleMs: number;
  readonly #states = new Map<string, KeyState>();
  readonly #runner: SyncRunner;
  readonly #onBudgetRefused: KeyLimiterDeps['onBudgetRefused'];

  constructor(deps: KeyLimiterDeps) {
    this.#now = deps.now ?? Date.now;
    const intervalMs = positiveInteger('syncIntervalMs', deps.syncIntervalMs ?? 1_000);
    this.#staleMs = Math.max(5 * intervalMs, 5_000);
    const sync = createLimitSync({
      store: deps.store,
      keys: deps.keys,
      now: this.#now,
      instanceId: deps.instanceId ?? randomBytes(8).toString('hex'),
      states: this.#states,
      staleMs: this.#staleMs,
      activeMs: ACTIVE_MS,
      evictMs: EVICT_MS,
      settleTimeoutMs: positiveInteger('settleTimeoutMs', deps.settleTimeoutMs ?? SETTLE_TIMEOUT_MS),
      onSettleTimeout(keyId, requestIds) {
        deps.log.warn('budget reservations expired uncounted', {
          keyId,
          count: requestIds.length,
          requestIds: requestIds.slice(0, 10),
        });
      },
    });
    this.#runner = createSyncRunner({ sync, log: deps.log, intervalMs });
    this.#onBudgetRefused =
      deps.onBudgetRefused === undefined ? undefined : (r: BudgetRefusal) => deps.onBudgetRefused?.(r);
  }

  admit(key: LimitedKey, nowMs = this.#now()): Admission {
    const state = this.#stateFor(key, nowMs);
    const error = checkLimits(state, nowMs, this.#staleMs);
    if (error !== undefined) return refusal(error);
    state.localInMinute++;
    if (key.rpm !== null) state.pendingRate.set(state.minute, (state.pendingRate.get(state.minute) ?? 0) + 1);
    state.inFlight++;
    state.concDirty = true;
    return admitted(state, this.#now, this.#staleMs, this.#onBudgetRefused);
  }

  start(): void {
    this.#runner.start();
  }

  stop(): Promise<void> {
    return this.#runner.stop();
  }

  syncNow(): Promise<boolean> {
    return this.#runner.syncNow();
  }

  redisHealthy(): boolean {
    return this.#runner.healthy();
  }

  #stateFor(key: LimitedKey, nowMs: number): KeyState {
    let state = this.#states.get(key.id);
    if (state === undefined) {
      state = newKeyState(key, nowMs);
      this.#states.set(key.id, state);
      // Without this a key that is already over its budget would get a free interval on every gateway restart.
      if (needsSync(key)) state.firstRead = this.#runner.pullSoon(state);
    }
    state.limits = key;
    state.lastSeenMs = nowMs;
    const minute = Math.floor(nowMs / 60_000);
    if (minute > state.minute) {
      state.minute = minute;
      state.localInMinute = 0;
    }
    return state;
  }
}
