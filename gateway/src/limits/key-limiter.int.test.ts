// The limiter on a real Redis: two instances (two gateways) sharing one key's limits, the budget read from the
// usage worker's hash, release accounting, and a Redis outage (its own redis-server, stopped and restarted).
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  utcDay,
  type SharedStore,
} from '@switchyard/shared';
import {
  deleteKeys,
  type RedisServerHandle,
  startRedisServer,
  testRedisUrl,
  uniquePrefix,
  waitFor,
} from '@switchyard/testkit';
import { createKeyLimiter, type Admission, type KeyLimiter } from './key-limiter.js';
import type { LimitedKey } from './limit-state.js';

// A fixed instant mid-minute for the limiter's windows (Redis TTLs still run on real time).
const T0 = Date.UTC(2030, 0, 1, 12, 0, 30, 200);
const now = () => T0;

const silent = createNullLogger();

function limitedKey(id: string, limits: Partial<LimitedKey>): LimitedKey {
  return {
    id,
    rpm: null,
    concurrency: null,
    dailyTokenBudget: null,
    dailyUsdBudget: null,
    monthlyUsdBudget: null,
    ...limits,
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

// The gateway's own client settings (main.ts): no offline queue, so commands fail at once while Redis is away.
async function connect(url: string): Promise<{ client: Redis; store: SharedStore }> {
  const client = createIoRedisClient(url, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: 'limits-test',
  });
  client.on('error', () => undefined);
  if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
  return { client, store: createIoRedisStore(client) };
}

describe('key limiter on a shared Redis', () => {
  const prefix = uniquePrefix('limits');
  const keys = createKeyspace(prefix);
  let conn: { client: Redis; store: SharedStore };
  let limiters: KeyLimiter[] = [];

  function gateway(syncIntervalMs = 1_000): KeyLimiter {
    const l = createKeyLimiter({ store: conn.store, keys, log: silent, now, syncIntervalMs });
    limiters.push(l);
    l.start();
    return l;
  }

  beforeAll(async () => {
    conn = await connect(testRedisUrl());
  });

  afterEach(async () => {
    await Promise.all(limiters.map((l) => l.stop()));
    limiters = [];
    await deleteKeys(conn.client, prefix);
  });

  afterAll(async () => {
    await deleteKeys(conn.client, prefix);
    await conn.store.close();
  });

  it('two instances share one key’s rpm: after one round each the fleet admits exactly rpm', async () => {
    const a = gateway();
    const b = gateway();
    const key = limitedKey('rpm-shared', { rpm: 5 });
    ok(b.admit(key));
    for (let i = 0; i < 3; i++) ok(a.admit(key));
    await a.syncNow();
    await b.syncNow();
    ok(b.admit(key));
    refused(b.admit(key));
    await b.syncNow();
    await a.syncNow();
    expect(refused(a.admit(key)).retryAfterSec).toBe(30);
    const window = await conn.store.hgetall(keys.rateWindow(key.id, Math.floor(T0 / 60_000)));
    expect(Object.values(window).map(Number).sort()).toEqual([2, 3]);
  });

  it('two instances share one key’s concurrency, and a release frees the slot fleet-wide', async () => {
    const a = gateway();
    const b = gateway();
    const key = limitedKey('conc-shared', { concurrency: 3 });
    ok(b.admit(key));
    const fromA = [ok(a.admit(key)), ok(a.admit(key))];
    await a.syncNow();
    await b.syncNow();
    refused(b.admit(key));
    for (const release of fromA) release();
    await a.syncNow();
    await b.syncNow();
    ok(b.admit(key));
    ok(b.admit(key));
    refused(b.admit(key));
  });

  // No syncNow(): only the timers (100 ms here) carry the counts across. The waits below are generous (expected: two
  // intervals, the holder's next push, then the other's next pull), so a loaded machine only makes them slower.
  it('with the timers running, the other instance sees the limit reached and freed without a manual sync', async () => {
    const a = gateway(100);
    const b = gateway(100);
    const conc = limitedKey('conc-timed', { concurrency: 2 });
    const rpm = limitedKey('rpm-timed', { rpm: 1_000 });
    ok(b.admit(conc))();
    ok(b.admit(rpm));

    const held = [ok(a.admit(conc)), ok(a.admit(conc))];
    for (let i = 0; i < 999; i++) ok(a.admit(rpm));
    await waitFor(
      'b to refuse the concurrency key (a holds its two)',
      () => {
        const probe = b.admit(conc);
        if (probe.ok) probe.release();
        return !probe.ok;
      },
      20_000,
    );
    // Every admitted probe takes one of the 999 left to b, so probing by itself, b would refuse only after 999 of
    // them: refusing before that proves it learnt a's count. One probe every 25 ms: 999 take longer than the wait.
    let admitted = 0;
    await waitFor(
      "b to refuse the rpm key (a's count learnt)",
      () => {
        const probe = b.admit(rpm);
        if (probe.ok) admitted++;
        return !probe.ok;
      },
      { timeoutMs: 20_000, intervalMs: 25 },
    );
    expect(admitted).toBeLessThan(999);

    for (const release of held) release();
    await waitFor(
      'b to admit the concurrency key again',
      () => {
        const probe = b.admit(conc);
        if (probe.ok) probe.release();
        return probe.ok;
      },
      20_000,
    );
  });

  it('refuses once the usage hash for today reaches dailyTokenBudget, until 00:00 UTC', async () => {
    const a = gateway();
    const key = limitedKey('budget', { dailyTokenBudget: 1_000 });
    const usageKey = keys.usage('key', key.id, utcDay(T0));
    ok(a.admit(key))();
    // As the usage worker writes it: the four token fields (plus counters the budget ignores).
    await conn.store.hincrby(usageKey, {
      inputTokens: 400,
      outputTokens: 300,
      cacheCreationInputTokens: 200,
      cacheReadInputTokens: 99,
      requests: 7,
    });
    await a.syncNow();
    ok(a.admit(key))();
    await conn.store.hincrby(usageKey, { cacheReadInputTokens: 1 });
    await a.syncNow();
    const err = refused(a.admit(key));
    expect(err.code).toBe('budget_exhausted');
    expect(err.status).toBe(429);
    expect(err.retryAfterSec).toBe(11 * 3600 + 59 * 60 + 30);

    const fresh = gateway(); // a gateway that never saw the key reads the total on first sight
    ok(fresh.admit(key))();
    await waitFor('the fresh gateway to refuse the spent key', () => !fresh.admit(key).ok, 20_000);
  });

  it('counts a released request once however often it is released', async () => {
    const a = gateway();
    const b = gateway();
    const key = limitedKey('release-once', { concurrency: 4 });
    ok(b.admit(key));
    const first = ok(a.admit(key));
    ok(a.admit(key));
    ok(a.admit(key));
    first();
    first();
    first();
    await a.syncNow();
    const hash = await conn.store.hgetall(keys.concurrency(key.id));
    expect(
      Object.values(hash)
        .map((v) => Number(v.split(':')[0]))
        .sort(),
    ).toEqual([2]);
    await b.syncNow();
    ok(b.admit(key));
    refused(b.admit(key));
  });
});

describe('key limiter while Redis is down', () => {
  const prefix = uniquePrefix('limits-outage');
  const keys = createKeyspace(prefix);
  let redis: RedisServerHandle;
  let conn: { client: Redis; store: SharedStore };
  const limiters: KeyLimiter[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    conn = await connect(redis.url);
  });

  afterAll(async () => {
    await Promise.all(limiters.map((l) => l.stop()));
    conn.client.disconnect();
    await redis.stop();
  });

  it('answers from local counts without waiting, and shares again once Redis is back', async () => {
    const gateway = () => {
      const l = createKeyLimiter({ store: conn.store, keys, log: silent, now, syncIntervalMs: 50 });
      limiters.push(l);
      l.start();
      return l;
    };
    const a = gateway();
    const b = gateway();
    const rpm = limitedKey('outage-rpm', { rpm: 4 });
    const conc = limitedKey('outage-conc', { concurrency: 1 });
    ok(b.admit(rpm));
    ok(b.admit(conc))();
    const holding = ok(a.admit(conc)); // a request that outlives the outage
    expect(await a.syncNow()).toBe(true);
    expect(await b.syncNow()).toBe(true);

    await redis.stop();
    await waitFor('both gateways to see Redis gone', () => !a.redisHealthy() && !b.redisHealthy(), 20_000);

    // Nothing here touches Redis: admit() is synchronous, and answers from this instance's own counts.
    for (let i = 0; i < 3; i++) ok(a.admit(rpm));
    refused(a.admit(conc));
    const local = limitedKey('outage-local', { rpm: 2 });
    ok(a.admit(local));
    ok(a.admit(local));
    expect(refused(a.admit(local)).code).toBe('rate_limited');

    redis = await startRedisServer({ port: redis.port });
    await waitFor('both gateways to see Redis back', () => a.redisHealthy() && b.redisHealthy(), 30_000);
    await a.syncNow();
    await b.syncNow();
    // The restarted Redis is empty: b can only refuse if a pushed what it admitted during the outage
    // (3 of rpm 4, plus b's own 1) and re-wrote the request it has held since before the outage.
    expect(refused(b.admit(rpm)).code).toBe('rate_limited');
    expect(refused(b.admit(conc)).code).toBe('rate_limited');
    holding();
    await a.syncNow();
    await b.syncNow();
    ok(b.admit(conc));
  });
});
