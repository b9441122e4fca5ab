// Budgets with reservations on the in-memory store and an injected clock: a reservation is held, refused past a
// budget, kept after its request ends until the worker's done marker, dropped at once when never forwarded, and
// dropped (with a warning) once the settle timeout passes; instances see each other's reservations.
import { createKeyspace, utcDay, utcMonth, type Logger, type SharedStore } from '@switchyard/shared';
import { createMemoryStore, recordingLog, type LogLine } from '@switchyard/testkit';
import { formatUsd } from './budget-check.js';
import { createKeyLimiter, type Admission, type Admitted, type KeyLimiter } from './key-limiter.js';
import type { LimitedKey } from './limit-state.js';

// 12:00:30.200 UTC on 15 January: mid-minute, mid-day, mid-month.
const T0 = Date.UTC(2030, 0, 15, 12, 0, 30, 200);
const SETTLE_MS = 600_000;
let clock = T0;
const now = () => clock;
const keys = createKeyspace('sy:');
let store: SharedStore;
const limiters: KeyLimiter[] = [];

function budgetKey(overrides: Partial<LimitedKey>): LimitedKey {
  return {
    id: 'key-1',
    rpm: null,
    concurrency: null,
    dailyTokenBudget: null,
    dailyUsdBudget: null,
    monthlyUsdBudget: null,
    ...overrides,
  };
}

function limiter(log: Logger = recordingLog([]), instanceId?: string): KeyLimiter {
  const l = createKeyLimiter({
    store,
    keys,
    log,
    now,
    syncIntervalMs: 1_000,
    settleTimeoutMs: SETTLE_MS,
    ...(instanceId ? { instanceId } : {}),
  });
  limiters.push(l);
  return l;
}

function ok(a: Admission): Admitted {
  if (!a.ok) throw new Error(`expected admission, got ${a.error.code}: ${a.error.message}`);
  return a;
}

function refused(a: Admission) {
  if (a.ok) throw new Error('expected a refusal');
  return a.error;
}

/** A first request of the key (it ends at once), then a sync round: the limiter has read the key's figures. */
async function seen(l: KeyLimiter, key: LimitedKey): Promise<void> {
  ok(l.admit(key)).release();
  await l.syncNow();
}

let seq = 0;
/** Admits and reserves one request; returns its handle and id. */
function reserved(
  l: KeyLimiter,
  key: LimitedKey,
  micros: number,
  tokens = 0,
): { admitted: Admitted; requestId: string } {
  const admitted = ok(l.admit(key));
  const requestId = `req_${++seq}`;
  const error = admitted.reserve({ requestId, micros, tokens });
  if (error !== undefined) throw new Error(`expected the reservation to be held, got ${error.message}`);
  return { admitted, requestId };
}

/** What the usage worker does once a request is counted: the totals and the done marker, together. */
async function count(
  keyId: string,
  requestId: string,
  figures: { costMicros?: number; inputTokens?: number; outputTokens?: number },
): Promise<void> {
  const increments = Object.fromEntries(Object.entries(figures).filter(([, v]) => v !== undefined)) as Record<
    string,
    number
  >;
  await store.hincrby(keys.usage('key', keyId, utcDay(clock)), increments);
  if (figures.costMicros !== undefined)
    await store.hincrby(keys.usageMonth(keyId, utcMonth(clock)), { costMicros: figures.costMicros });
  await store.set(keys.usageDone(requestId), '1');
}

beforeEach(() => {
  clock = T0;
  store = createMemoryStore({ now });
});

afterEach(async () => {
  await Promise.all(limiters.splice(0).map((l) => l.stop()));
});

describe('a reservation against a daily USD budget', () => {
  it('is refused when it would pass the budget, naming the budget, the figures and the reset', async () => {
    const l = limiter();
    const key = budgetKey({ dailyUsdBudget: 1 });
    await store.hincrby(keys.usage('key', 'key-1', utcDay(T0)), { costMicros: 400_000 });
    await seen(l, key);
    reserved(l, key, 300_000); // 0.40 spent + 0.30 held
    const second = ok(l.admit(key)); // 0.70 < 1.00: admitted before its body is read
    const err = second.reserve({ requestId: 'req_big', micros: 300_001, tokens: 10 });
    expect(err?.code).toBe('budget_exhausted');
    expect(err?.status).toBe(429);
    expect(err?.message).toContain('daily USD budget of $1.00');
    expect(err?.message).toContain('$0.40 counted');
    expect(err?.message).toContain('$0.30 held by requests in flight');
    expect(err?.message).toContain('up to $0.300001');
    expect(err?.message).toContain('00:00 UTC');
    // What is counted leaves room for it: only the request in flight holds it back, so it may fit in seconds.
    expect(err?.message).toContain('retry in a few seconds');
    expect(err?.retryAfterSec).toBe(2);
    // A request that does not fit even once everything held is counted waits for the reset.
    const tooBig = ok(l.admit(key)).reserve({ requestId: 'req_huge', micros: 600_001, tokens: 10 });
    expect(tooBig?.retryAfterSec).toBe(11 * 3600 + 59 * 60 + 30);
    expect(tooBig?.message).not.toContain('retry in a few seconds');
    // Exactly what is left fits.
    expect(second.reserve({ requestId: 'req_fits', micros: 300_000, tokens: 10 })).toBeUndefined();
    // Now counted + held = the budget: the next request is refused before its body is read.
    const before = refused(l.admit(key));
    expect(before.message).toContain('has used its daily USD budget of $1.00');
  });

  it('stays held after its request ends until the worker’s done marker, then the counted total takes its place', async () => {
    const l = limiter();
    const key = budgetKey({ dailyUsdBudget: 1 });
    const { admitted, requestId } = reserved(l, key, 900_000);
    admitted.release({ awaitUsage: true });
    await l.syncNow();
    expect(ok(l.admit(key)).reserve({ requestId: 'req_x', micros: 200_000, tokens: 1 })?.code).toBe('budget_exhausted');
    // Counted: the marker and the totals land together; one round drops the reservation and reads the spend.
    await count('key-1', requestId, { costMicros: 150_000 });
    await l.syncNow();
    const next = ok(l.admit(key));
    expect(next.reserve({ requestId: 'req_y', micros: 850_000, tokens: 1 })).toBeUndefined(); // 0.15 + 0.85 = 1.00
  });

  it('goes at once when the request never reached a node', () => {
    const l = limiter();
    const key = budgetKey({ dailyUsdBudget: 1 });
    const { admitted } = reserved(l, key, 900_000);
    admitted.release(); // refused after the parse, or no node: nothing will be counted
    reserved(l, key, 1_000_000);
  });

  it('is dropped with a warning once the settle timeout passes without a count (worker down)', async () => {
    const lines: LogLine[] = [];
    const l = limiter(recordingLog(lines));
    const key = budgetKey({ dailyUsdBudget: 1 });
    const { admitted, requestId } = reserved(l, key, 600_000);
    admitted.release({ awaitUsage: true });
    clock += SETTLE_MS; // not past it yet
    await l.syncNow();
    expect(ok(l.admit(key)).reserve({ requestId: 'req_z', micros: 500_000, tokens: 1 })?.code).toBe('budget_exhausted');
    clock += 1;
    await l.syncNow();
    expect(lines.map((l) => [l.level, l.message])).toEqual([['warn', 'budget reservations expired uncounted']]);
    expect(lines[0]?.meta).toEqual({ keyId: 'key-1', count: 1, requestIds: [requestId] });
    expect(ok(l.admit(key)).reserve({ requestId: 'req_z2', micros: 1_000_000, tokens: 1 })).toBeUndefined();
  });

  it('is not timed out while its request still runs (a long stream)', async () => {
    const l = limiter();
    const key = budgetKey({ dailyUsdBudget: 1 });
    const { admitted } = reserved(l, key, 600_000);
    clock += 3 * SETTLE_MS;
    await l.syncNow();
    expect(ok(l.admit(key)).reserve({ requestId: 'req_w', micros: 500_000, tokens: 1 })?.code).toBe('budget_exhausted');
    admitted.release();
  });
});

describe('the budget alert cue', () => {
  it('tells of a refusal its counted spend causes, not one that only requests in flight cause', async () => {
    const told: { keyId: string; kind: string; asked: number }[] = [];
    const l = createKeyLimiter({
      store,
      keys,
      log: recordingLog([]),
      now,
      settleTimeoutMs: SETTLE_MS,
      onBudgetRefused: (r) => void told.push({ keyId: r.keyId, kind: r.budget.kind, asked: r.asked }),
    });
    limiters.push(l);
    const key = budgetKey({ dailyUsdBudget: 1 });
    await store.hincrby(keys.usage('key', 'key-1', utcDay(T0)), { costMicros: 400_000 });
    await seen(l, key);
    reserved(l, key, 500_000); // 0.40 counted + 0.50 held
    expect(ok(l.admit(key)).reserve({ requestId: 'req_held', micros: 200_000, tokens: 1 })?.retryAfterSec).toBe(2);
    expect(told).toEqual([]);
    expect(ok(l.admit(key)).reserve({ requestId: 'req_out', micros: 700_000, tokens: 1 })?.code).toBe(
      'budget_exhausted',
    );
    expect(told).toEqual([{ keyId: 'key-1', kind: 'daily_usd', asked: 700_000 }]);
  });
});

describe('a key seen for the first time', () => {
  it('offers the read of its figures to wait for, so a first burst is measured against what the key spent', async () => {
    const l = limiter();
    l.start(); // a running limiter reads a key it sees for the first time at once, in the background
    const key = budgetKey({ dailyUsdBudget: 1 });
    await store.hincrby(keys.usage('key', 'key-1', utcDay(T0)), { costMicros: 990_000 }); // already spent
    const burst = [ok(l.admit(key)), ok(l.admit(key)), ok(l.admit(key))];
    const reading = burst[0]!.budgetFiguresRead();
    expect(reading).toBeDefined();
    await reading;
    for (const a of burst) expect(a.budgetFiguresRead()).toBeUndefined();
    // $0.01 left: one of the burst fits, the others are refused naming the budget.
    const answers = burst.map((a, i) => a.reserve({ requestId: `req_f${i}`, micros: 6_000, tokens: 1 })?.code);
    expect(answers).toEqual([undefined, 'budget_exhausted', 'budget_exhausted']);
  });

  it('offers nothing to wait for when no read could start (a limiter not running: Redis away or stopped)', () => {
    const l = limiter();
    const a = ok(l.admit(budgetKey({ dailyUsdBudget: 1 })));
    expect(a.budgetFiguresRead()).toBeUndefined();
    expect(a.reserve({ requestId: 'req_n', micros: 6_000, tokens: 1 })).toBeUndefined();
  });

  it('offers nothing to wait for on a key without budgets', () => {
    const l = limiter();
    l.start();
    expect(ok(l.admit({ ...budgetKey({}), id: 'key-2', rpm: 10 })).budgetFiguresRead()).toBeUndefined();
  });
});

describe('other budgets', () => {
  it('a monthly USD budget counts the month’s spend and resets on the 1st, 00:00 UTC', async () => {
    const l = limiter();
    const key = budgetKey({ monthlyUsdBudget: 20 });
    await store.hincrby(keys.usageMonth('key-1', utcMonth(T0)), { costMicros: 19_990_000 });
    await seen(l, key);
    const err = ok(l.admit(key)).reserve({ requestId: 'req_m', micros: 20_000, tokens: 1 });
    expect(err?.message).toContain('monthly USD budget of $20.00');
    expect(err?.message).toContain('1st of next month');
    expect(err?.retryAfterSec).toBe((Date.UTC(2030, 1, 1) - T0 + 200) / 1000); // to 1 Feb 00:00 UTC, rounded up
    clock = Date.UTC(2030, 1, 1, 0, 0, 1);
    expect(ok(l.admit(key)).reserve({ requestId: 'req_m2', micros: 20_000, tokens: 1 })).toBeUndefined();
  });

  it('a daily token budget holds body bytes plus max_tokens', async () => {
    const l = limiter();
    const key = budgetKey({ dailyTokenBudget: 1_000 });
    await store.hincrby(keys.usage('key', 'key-1', utcDay(T0)), { inputTokens: 300, outputTokens: 100 });
    await seen(l, key);
    reserved(l, key, 0, 500);
    const err = ok(l.admit(key)).reserve({ requestId: 'req_t', micros: 0, tokens: 101 });
    expect(err?.message).toContain('daily budget of 1,000 tokens');
    expect(err?.message).toContain('400 tokens counted');
    expect(err?.message).toContain('up to 101 tokens');
    reserved(l, key, 0, 100);
    expect(refused(l.admit(key)).message).toContain('has used its daily budget of 1,000 tokens');
  });

  it('a key without budgets holds nothing', () => {
    const l = limiter();
    const key = budgetKey({});
    for (let i = 0; i < 5; i++)
      expect(ok(l.admit(key)).reserve({ requestId: `req_n${i}`, micros: 1e12, tokens: 1e9 })).toBeUndefined();
  });
});

describe('two instances', () => {
  it('each counts the other’s reservations after a round on each, until they go stale', async () => {
    const a = limiter(recordingLog([]), 'gw-a');
    const b = limiter(recordingLog([]), 'gw-b');
    const key = budgetKey({ dailyUsdBudget: 1 });
    const held = reserved(a, key, 700_000);
    await a.syncNow();
    ok(b.admit(key));
    await b.syncNow();
    expect(ok(b.admit(key)).reserve({ requestId: 'req_b', micros: 400_000, tokens: 1 })?.message).toContain(
      '$0.70 held',
    );
    // a ended it and the worker counted it. Until a's next round b counts it twice (held and counted), never not
    // at all; a's round drops it and publishes the drop, and b then reads the total instead.
    held.admitted.release({ awaitUsage: true });
    await count('key-1', held.requestId, { costMicros: 100_000 });
    await b.syncNow();
    expect(ok(b.admit(key)).reserve({ requestId: 'req_b1', micros: 900_000, tokens: 1 })?.message).toContain(
      '$0.10 counted, $0.70 held',
    );
    await a.syncNow();
    await b.syncNow();
    expect(ok(b.admit(key)).reserve({ requestId: 'req_b2', micros: 900_000, tokens: 1 })).toBeUndefined();
  });

  it('ignores a crashed instance’s reservations once its field is stale', async () => {
    const a = limiter(recordingLog([]), 'gw-a');
    const b = limiter(recordingLog([]), 'gw-b');
    const key = budgetKey({ dailyUsdBudget: 1 });
    reserved(a, key, 900_000);
    await a.syncNow();
    ok(b.admit(key));
    await b.syncNow();
    expect(ok(b.admit(key)).reserve({ requestId: 'req_s', micros: 200_000, tokens: 1 })?.code).toBe('budget_exhausted');
    clock += 5_001; // a never writes again
    await b.syncNow();
    expect(ok(b.admit(key)).reserve({ requestId: 'req_s2', micros: 200_000, tokens: 1 })).toBeUndefined();
  });
});

it('formats dollars with 2 to 6 decimals', () => {
  expect([5_000_000, 10_000, 12_500, 3, 0, 123_456_789].map(formatUsd)).toEqual([
    '$5.00',
    '$0.01',
    '$0.0125',
    '$0.000003',
    '$0.00',
    '$123.456789',
  ]);
});
