// The limiter on the in-memory store with an injected clock: every limit, its retry-after, and the fleet sync.
import { createKeyspace, utcDay, type Logger, type SharedStore } from '@switchyard/shared';
import { createMemoryStore, recordingLog, type LogLine } from '@switchyard/testkit';
import { createKeyLimiter, type Admission, type KeyLimiter } from './key-limiter.js';
import type { LimitedKey } from './limit-state.js';
import type { LimitStore } from './limit-sync.js';
import { modelRefusal } from './model-match.js';

// 12:00:30.200 UTC: mid-minute, so a test never straddles a window by accident.
const T0 = Date.UTC(2030, 0, 1, 12, 0, 30, 200);

function limitedKey(overrides: Partial<LimitedKey> = {}): LimitedKey {
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

function ok(a: Admission): () => void {
  if (!a.ok) throw new Error(`expected admission, got ${a.error.code}: ${a.error.message}`);
  return () => a.release();
}

function refused(a: Admission) {
  if (a.ok) throw new Error('expected a refusal');
  return a.error;
}

let clock = T0;
const now = () => clock;
const keys = createKeyspace('sy:');
let store: SharedStore;
const limiters: KeyLimiter[] = [];

function limiter(opts: { store?: LimitStore; log?: Logger } = {}): KeyLimiter {
  const created = createKeyLimiter({
    store: opts.store ?? store,
    keys,
    log: opts.log ?? recordingLog([]),
    now,
    syncIntervalMs: 1_000,
  });
  limiters.push(created);
  return created;
}

/** A running limiter, as a gateway has one: it also reads a key it sees for the first time at once. */
function running(opts: { store?: LimitStore; log?: Logger } = {}): KeyLimiter {
  const created = limiter(opts);
  created.start();
  return created;
}

/** Lets background reads on the memory store (which answers in microtasks) complete. */
const settle = () => new Promise((r) => setImmediate(r));

beforeEach(() => {
  clock = T0;
  store = createMemoryStore({ now });
});

afterEach(async () => {
  await Promise.all(limiters.splice(0).map((l) => l.stop()));
});

describe('allowed models', () => {
  it('answers 403 model_not_allowed for a model outside the list, and for no model at all', () => {
    const allowed = ['claude-sonnet-*', 'claude-haiku-4-5'];
    expect(modelRefusal(allowed, 'claude-sonnet-4-5')).toBeUndefined();
    expect(modelRefusal(allowed, 'claude-haiku-4-5')).toBeUndefined();
    expect(modelRefusal(null, undefined)).toBeUndefined();
    for (const model of ['claude-opus-4-1', undefined]) {
      const err = modelRefusal(allowed, model);
      expect(err?.code).toBe('model_not_allowed');
      expect(err?.status).toBe(403);
      expect(err?.anthropicType).toBe('permission_error');
      expect(err?.retryAfterSec).toBeUndefined();
    }
  });
});

describe('requests per minute', () => {
  it('refuses the request past rpm with 429 and retry-after until the minute ends, then admits again', () => {
    const l = limiter();
    const key = limitedKey({ rpm: 3 });
    for (let i = 0; i < 3; i++) ok(l.admit(key))();
    const err = refused(l.admit(key));
    expect(err.code).toBe('rate_limited');
    expect(err.status).toBe(429);
    expect(err.anthropicType).toBe('rate_limit_error');
    expect(err.retryAfterSec).toBe(30);
    clock = T0 + 29_800; // 12:01:00.000
    for (let i = 0; i < 3; i++) ok(l.admit(key));
    refused(l.admit(key));
  });

  it('counts only admitted requests, and follows an edited limit at once', () => {
    const l = limiter();
    ok(l.admit(limitedKey({ rpm: 2 })));
    ok(l.admit(limitedKey({ rpm: 2 })));
    for (let i = 0; i < 5; i++) refused(l.admit(limitedKey({ rpm: 2 })));
    ok(l.admit(limitedKey({ rpm: 3 })));
    refused(l.admit(limitedKey({ rpm: 3 })));
    ok(l.admit(limitedKey({ rpm: null })));
  });

  it('keeps keys apart', () => {
    const l = limiter();
    ok(l.admit(limitedKey({ id: 'a', rpm: 1 })));
    refused(l.admit(limitedKey({ id: 'a', rpm: 1 })));
    ok(l.admit(limitedKey({ id: 'b', rpm: 1 })));
  });
});

describe('concurrency', () => {
  it('refuses past the limit with retry-after 1 and admits again once a request releases', () => {
    const l = limiter();
    const key = limitedKey({ concurrency: 2 });
    const first = ok(l.admit(key));
    ok(l.admit(key));
    const err = refused(l.admit(key));
    expect(err.code).toBe('rate_limited');
    expect(err.retryAfterSec).toBe(1);
    first();
    ok(l.admit(key));
  });

  it('ignores a second release of the same request', () => {
    const l = limiter();
    const key = limitedKey({ concurrency: 2 });
    const first = ok(l.admit(key));
    ok(l.admit(key));
    first();
    first();
    ok(l.admit(key));
    refused(l.admit(key));
  });
});

describe('daily token budget', () => {
  const usageKey = (day = utcDay(T0)) => keys.usage('key', 'key-1', day);

  it('refuses with budget_exhausted once today’s four token fields reach the budget, until 00:00 UTC', async () => {
    const l = limiter();
    const key = limitedKey({ dailyTokenBudget: 1_000 });
    await store.hincrby(usageKey(), {
      inputTokens: 600,
      outputTokens: 300,
      cacheCreationInputTokens: 50,
      requests: 500,
    });
    ok(l.admit(key))();
    await l.syncNow();
    ok(l.admit(key))(); // 950 of 1000
    await store.hincrby(usageKey(), { cacheReadInputTokens: 50 });
    await l.syncNow();
    const err = refused(l.admit(key));
    expect(err.code).toBe('budget_exhausted');
    expect(err.status).toBe(429);
    expect(err.retryAfterSec).toBe(11 * 3600 + 59 * 60 + 30); // 12:00:30.2 → midnight, rounded up
    clock = Date.UTC(2030, 0, 2, 0, 0, 0, 1); // a new day: yesterday's total no longer applies, even before a sync
    ok(l.admit(key))();
    await l.syncNow();
    ok(l.admit(key));
  });

  it('reads a key it has never seen as soon as the limiter runs, without waiting for the interval', async () => {
    const l = running();
    await store.hincrby(usageKey(), { outputTokens: 5_000 });
    const key = limitedKey({ dailyTokenBudget: 5_000 });
    ok(l.admit(key)); // first sight: nothing known yet
    await settle();
    expect(refused(l.admit(key)).code).toBe('budget_exhausted');
  });
});

describe('two instances on one store', () => {
  it('share one key’s rpm after a sync round on each', async () => {
    const a = running();
    const b = running();
    const key = limitedKey({ rpm: 4 });
    for (let i = 0; i < 3; i++) ok(a.admit(key));
    await a.syncNow();
    ok(b.admit(key)); // b's first sight of the key reads the fleet's numbers in the background
    await settle();
    refused(b.admit(key));
    await b.syncNow();
    await a.syncNow();
    expect(refused(a.admit(key)).retryAfterSec).toBe(30);
  });

  it('share concurrency, and a release frees the slot fleet-wide after the next rounds', async () => {
    const a = running();
    const b = running();
    const key = limitedKey({ concurrency: 3 });
    const releases = [ok(a.admit(key)), ok(a.admit(key))];
    await a.syncNow();
    ok(b.admit(key));
    await settle();
    refused(b.admit(key));
    for (const release of releases) release();
    await a.syncNow();
    await b.syncNow();
    ok(b.admit(key));
    ok(b.admit(key));
    refused(b.admit(key));
  });

  it('on stop writes its final count, so the others stop counting its requests at the next round', async () => {
    const a = running();
    const b = running();
    const key = limitedKey({ concurrency: 2 });
    ok(b.admit(key));
    const release = ok(a.admit(key));
    await a.syncNow();
    await b.syncNow();
    refused(b.admit(key));
    release();
    await a.stop();
    await b.syncNow();
    ok(b.admit(key));
  });

  it('keeps counting a long request of another instance for as long as that instance runs', async () => {
    const a = running();
    const b = running();
    const key = limitedKey({ concurrency: 1 });
    ok(b.admit(key))();
    ok(a.admit(key));
    for (let second = 0; second < 20; second++) {
      clock += 1_000;
      await a.syncNow();
      await b.syncNow();
      refused(b.admit(key));
    }
  });

  it('forgets the in-flight count of an instance that stopped writing (crashed) after 5 s', async () => {
    const a = running();
    const b = running();
    const key = limitedKey({ concurrency: 3 });
    ok(b.admit(key));
    ok(a.admit(key));
    ok(a.admit(key));
    await a.syncNow();
    await b.syncNow();
    refused(b.admit(key));
    clock += 4_000;
    await b.syncNow();
    refused(b.admit(key));
    clock += 1_500; // a's field is now 5.5 s old
    await b.syncNow();
    ok(b.admit(key));
  });
});

describe('when the store fails', () => {
  function flaky(inner: SharedStore) {
    let down = false;
    const fail = () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
    const flakyStore: LimitStore = {
      hincrby: (...args) => (down ? fail() : inner.hincrby(...args)),
      hgetall: (...args) => (down ? fail() : inner.hgetall(...args)),
      hset: (...args) => (down ? fail() : inner.hset(...args)),
      expire: (...args) => (down ? fail() : inner.expire(...args)),
      mget: (...args) => (down ? fail() : inner.mget(...args)),
    };
    return { store: flakyStore, setDown: (v: boolean) => void (down = v) };
  }

  it('keeps enforcing local counts, warns once, and pushes what it admitted meanwhile once the store is back', async () => {
    const lines: LogLine[] = [];
    const log = recordingLog(lines);
    const net = flaky(store);
    const a = running({ store: net.store, log });
    const b = running();
    const key = limitedKey({ rpm: 5, concurrency: 10 });
    net.setDown(true);
    for (let i = 0; i < 3; i++) ok(a.admit(key));
    expect(await a.syncNow()).toBe(false);
    expect(await a.syncNow()).toBe(false);
    expect(a.redisHealthy()).toBe(false);
    ok(a.admit(key));
    ok(a.admit(key));
    refused(a.admit(key));
    expect(lines.filter((l) => l.level === 'warn').map((l) => l.message)).toEqual(['limits sync failed']);

    net.setDown(false);
    expect(await a.syncNow()).toBe(true);
    expect(a.redisHealthy()).toBe(true);
    expect(lines.filter((l) => l.level === 'info').map((l) => l.message)).toEqual(['limits sync recovered']);
    ok(b.admit({ ...key, rpm: 6 }));
    await settle();
    refused(b.admit({ ...key, rpm: 6 }));
  });
});

it('rejects a sync interval that is not a positive integer', () => {
  expect(() => createKeyLimiter({ store, keys, log: recordingLog([]), syncIntervalMs: 0 })).toThrow(RangeError);
});
