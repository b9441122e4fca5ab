// GET /admin/usage and /admin/usage/recent on a real Redis through supertest. The data is written the way the
// usage worker writes it (HINCRBY per scope and day and into the key's month, SADD to the day's index and its
// price versions, LPUSH + LTRIM to the recent list);
// the accounting lag comes from a real BullMQ queue with jobs of known timestamps and no worker.
import { Queue } from 'bullmq';
import express from 'express';
import request from 'supertest';
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  queuePrefix,
  RECENT_REQUESTS_KEPT,
  USAGE_COUNTER_FIELDS,
  type Keyspace,
  type RecentRequest,
  type SharedStore,
  type UsageCounterField,
} from '@switchyard/shared';
import { deleteKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createQueueLagReader } from '../usage/queue-lag.js';
import { createAdminRouter, type AdminRouterDeps } from './admin-router.js';

const TOKEN = `tok-${'u'.repeat(44)}`;
const AUTH = { authorization: `Bearer ${TOKEN}` };
const NOW = Date.parse('2027-01-15T08:00:00Z');

/** One counted request, as the worker would have counted it. */
interface Counted {
  day: string;
  keyId: string;
  nodeId: string | null;
  model: string;
  counters: Partial<Record<UsageCounterField, number>>;
  /** The price-data version that priced it (none: unpriced). */
  priceVersion?: string;
}

type Row = Record<string, number | string | null | string[] | Record<string, unknown>>;
type Totals = Record<string, number | null | Record<string, number>>;
interface Report {
  by: string;
  from: string;
  to: string;
  rows: Row[];
  totals: Totals;
  allTime: Totals;
  priceVersions: string[];
}

// What the worker's script does for one request (without the exactly-once marker, which is its business).
async function count(client: Redis, keys: Keyspace, c: Counted): Promise<void> {
  const hashes = [
    keys.usage('global', 'all', c.day),
    keys.usage('key', c.keyId, c.day),
    keys.usage('model', c.model, c.day),
    keys.usageAllTime(),
  ];
  if (c.nodeId !== null) hashes.push(keys.usage('node', c.nodeId, c.day));
  const tx = client.multi();
  hashes.push(keys.usageMonth(c.keyId, c.day.slice(0, 7)));
  for (const hash of hashes) {
    for (const [field, by] of Object.entries(c.counters)) if (by !== 0) tx.hincrby(hash, field, by);
  }
  tx.sadd(keys.usageIndex('key', c.day), c.keyId).sadd(keys.usageIndex('model', c.day), c.model);
  if (c.nodeId !== null) tx.sadd(keys.usageIndex('node', c.day), c.nodeId);
  if (c.priceVersion !== undefined) tx.sadd(keys.usagePriceVersions(c.day), c.priceVersion);
  await tx.exec();
}

/** The row a user should see for these requests: every field summed, 0 when never written; dollars from the summed micros. */
function expectedTotals(requests: Counted[]): Totals {
  const sum = Object.fromEntries(USAGE_COUNTER_FIELDS.map((f) => [f, 0])) as Record<UsageCounterField, number>;
  for (const r of requests) for (const [field, by] of Object.entries(r.counters)) sum[field as UsageCounterField] += by;
  const sent = sum.inputTokens + sum.cacheCreationInputTokens + sum.cacheReadInputTokens;
  return {
    ...sum,
    sentTokens: sent,
    receivedTokens: sum.outputTokens,
    costUsd: sum.costMicros / 1e6,
    apiEquivalentUsd: sum.apiEquivalentMicros / 1e6,
    cacheSavingsUsd: sum.cacheSavingsMicros / 1e6,
    cacheReadShare: sent === 0 ? null : sum.cacheReadInputTokens / sent,
    requestsByRoute: {
      messages: sum.requests - sum.chatCompletionRequests,
      chat_completions: sum.chatCompletionRequests,
    },
  };
}

/** The price versions a day's requests were priced with, sorted. */
function versionsOf(requests: Counted[]): string[] {
  return [...new Set(requests.flatMap((r) => (r.priceVersion === undefined ? [] : [r.priceVersion])))].sort();
}

const SONNET = 'claude-sonnet-4-5';
const OPUS_BETA = 'claude-opus-4-1:beta'; // model ids may carry ':'

function requestsFor(alice: string): Counted[] {
  return [
    {
      day: '2027-01-15',
      keyId: alice,
      nodeId: 'node-a',
      model: SONNET,
      counters: {
        requests: 1,
        inputTokens: 100,
        outputTokens: 50,
        cacheCreationInputTokens: 10,
        cacheCreation5mInputTokens: 10,
        cacheReadInputTokens: 1000,
        estimatedInputTokens: 1105,
        estimatedOutputTokens: 48,
        durationMs: 1500,
        // Dollars as the worker writes them: integer micro-dollars. 0.1 $ + 0.2 $ is 0.3 $ exactly, which floats do not give.
        costMicros: 100_000,
        apiEquivalentMicros: 100_000,
        cacheSavingsMicros: 2_700,
        stickyMoves: 1,
      },
      priceVersion: 'genai-prices@0.1.8',
    },
    {
      day: '2027-01-14',
      keyId: alice,
      nodeId: 'node-b',
      model: OPUS_BETA,
      counters: {
        requests: 1,
        inputTokens: 200,
        outputTokens: 300,
        cacheCreation1hInputTokens: 0,
        durationMs: 900,
        unpricedRequests: 1,
      },
    },
    {
      day: '2027-01-14',
      keyId: 'key_gone',
      nodeId: 'node-a',
      model: SONNET,
      counters: {
        requests: 1,
        errors: 1,
        inputTokens: 5,
        outputTokens: 5,
        durationMs: 30,
        costMicros: 90,
        cacheMisses: 1,
        cacheSavingsMicros: -1_250,
      },
      priceVersion: 'genai-prices@0.1.8+file:3f2a',
    },
    // Refused by the gateway before any node: counted, but under no node.
    {
      day: '2027-01-13',
      keyId: alice,
      nodeId: null,
      model: SONNET,
      counters: { requests: 1, errors: 1, estimateMissingBlocks: 2, durationMs: 2 },
    },
    {
      day: '2027-01-14',
      keyId: alice,
      nodeId: 'node-a',
      model: SONNET,
      // Came in on /v1/chat/completions.
      counters: {
        requests: 1,
        aborted: 1,
        inputTokens: 40,
        durationMs: 700,
        costMicros: 200_000,
        apiEquivalentMicros: 200_000,
        chatCompletionRequests: 1,
      },
      priceVersion: 'genai-prices@0.1.8',
    },
    // Outside the default range (the last seven days).
    {
      day: '2027-01-01',
      keyId: 'key_gone',
      nodeId: 'node-b',
      model: OPUS_BETA,
      counters: { requests: 1, inputTokens: 7000, outputTokens: 7000, durationMs: 5000, costMicros: 12_345_678 },
      priceVersion: 'genai-prices@0.1.7',
    },
  ];
}

function recentEntry(i: number): RecentRequest {
  return {
    requestId: `req_${i}`,
    at: NOW - (100 - i) * 1000,
    keyId: 'key_a',
    nodeId: i % 2 === 0 ? 'node-a' : null,
    model: SONNET,
    stream: true,
    status: 200,
    aborted: false,
    stopReason: 'end_turn',
    inputTokens: i,
    outputTokens: 2 * i,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
    estimatedInputTokens: i,
    estimatedOutputTokens: 2 * i,
    estimateApproximate: false,
    durationMs: 120.5,
    ttfbMs: 40,
    costMicros: i * 1_001,
    priced: i % 10 !== 0,
    cacheSavingsMicros: i % 3 === 0 ? -i : 0,
    route: i % 4 === 0 ? 'chat_completions' : 'messages',
  };
}

/** A recent entry as the API answers it: the worker's, with its dollars in USD. */
function recentView(i: number): RecentRequest & { costUsd: number; cacheSavingsUsd: number } {
  const entry = recentEntry(i);
  return { ...entry, costUsd: entry.costMicros / 1e6, cacheSavingsUsd: entry.cacheSavingsMicros / 1e6 };
}

describe('admin API: usage', () => {
  const prefix = uniquePrefix('admin-usage');
  const keys = createKeyspace(prefix);
  let client: Redis;
  let store: SharedStore;
  let app: express.Express;
  let alice: string;
  let requests: Counted[];

  beforeAll(async () => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    app = express();
    app.use(
      '/admin',
      createAdminRouter({
        store,
        keys,
        adminToken: TOKEN,
        registry: { nodes: () => [] },
        log: createNullLogger(),
        now: () => NOW,
      }),
    );
    const created = await request(app).post('/admin/keys').set(AUTH).send({ name: 'alice' }).expect(201);
    alice = (created.body as { record: { id: string } }).record.id;
    requests = requestsFor(alice);
    for (const r of requests) await count(client, keys, r);
  });

  afterAll(async () => {
    await deleteKeys(client, prefix);
    await store.close();
    await client.quit();
  });

  async function usage(query: string): Promise<Report> {
    const res = await request(app).get(`/admin/usage${query}`).set(AUTH).expect(200);
    return res.body as Report;
  }

  const inRange = (from: string, to: string) => (r: Counted) => r.day >= from && r.day <= to;

  it('by day (the default): the last seven days oldest first, empty days as zeros, totals and all time', async () => {
    const report = await usage('');
    expect(report).toMatchObject({ by: 'day', from: '2027-01-09', to: '2027-01-15' });
    expect(report.rows.map((r) => r.id)).toEqual([
      '2027-01-09',
      '2027-01-10',
      '2027-01-11',
      '2027-01-12',
      '2027-01-13',
      '2027-01-14',
      '2027-01-15',
    ]);
    for (const row of report.rows) {
      const ofDay = requests.filter((r) => r.day === row.id);
      expect(row).toEqual({ id: row.id, ...expectedTotals(ofDay), priceVersions: versionsOf(ofDay) });
    }
    expect(report.rows[0]).toMatchObject({ requests: 0, sentTokens: 0, receivedTokens: 0 });
    expect(report.rows[5]).toMatchObject({
      requests: 3,
      errors: 1,
      aborted: 1,
      inputTokens: 245,
      outputTokens: 305,
      sentTokens: 245,
    });
    expect(report.totals).toEqual(expectedTotals(requests.filter(inRange('2027-01-09', '2027-01-15'))));
    expect(report.totals).toMatchObject({ requests: 5, sentTokens: 1355, receivedTokens: 355 });
    expect(report.allTime).toEqual(expectedTotals(requests));
    expect(report.allTime.requests).toBe(6);
    expect(report.priceVersions).toEqual(['genai-prices@0.1.8', 'genai-prices@0.1.8+file:3f2a']);
  });

  it('splits the requests by the client API they came in on: chat completions counted, messages the rest', async () => {
    const report = await usage('?by=day&from=2027-01-13&to=2027-01-15');
    expect(report.rows.map((r) => [r.id, r.requestsByRoute])).toEqual([
      ['2027-01-13', { messages: 1, chat_completions: 0 }],
      ['2027-01-14', { messages: 2, chat_completions: 1 }],
      ['2027-01-15', { messages: 1, chat_completions: 0 }],
    ]);
    expect(report.totals).toMatchObject({
      requests: 5,
      chatCompletionRequests: 1,
      requestsByRoute: { messages: 4, chat_completions: 1 },
    });
    const byKey = await usage('?by=key');
    expect(byKey.rows.find((r) => r.id === alice)).toMatchObject({
      requestsByRoute: { messages: 3, chat_completions: 1 },
      month: { requestsByRoute: { messages: 3, chat_completions: 1 } },
    });
    expect(byKey.rows.find((r) => r.id === 'key_gone')?.requestsByRoute).toEqual({ messages: 1, chat_completions: 0 });
  });

  it('carries dollars summed as integer micro-dollars, converted once, and the cache figures', async () => {
    const report = await usage('?by=day&from=2027-01-14&to=2027-01-15');
    // 0.2 $ on the 14th (+ 90 micro-dollars), 0.1 $ on the 15th: the range is 0.30009 $, not 0.1 + 0.2 + 0.00009 in floats.
    expect(report.rows.map((r) => [r.id, r.costUsd, r.priceVersions])).toEqual([
      ['2027-01-14', 0.20009, ['genai-prices@0.1.8', 'genai-prices@0.1.8+file:3f2a']],
      ['2027-01-15', 0.1, ['genai-prices@0.1.8']],
    ]);
    expect(report.totals).toMatchObject({
      costMicros: 300_090,
      costUsd: 0.30009,
      apiEquivalentUsd: 0.3,
      cacheSavingsMicros: 1_450,
      cacheSavingsUsd: 0.00145,
    });
    expect(0.20009 + 0.1).not.toBe(0.30009); // what summing the days' dollars would have answered
    expect(report.totals).toMatchObject({ unpricedRequests: 1, cacheMisses: 1, stickyMoves: 1 });
    // The 15th: 1000 of 1110 input tokens were read from the cache.
    expect(report.rows[1]?.cacheReadShare).toBeCloseTo(1000 / 1110, 12);
    // A day whose writes outweighed its reads saved less than nothing.
    const gone = await usage('?by=key&from=2027-01-14&to=2027-01-14');
    expect(gone.rows.find((r) => r.id === 'key_gone')).toMatchObject({
      cacheSavingsMicros: -1_250,
      cacheSavingsUsd: -0.00125,
      cacheReadShare: 0,
      cacheMisses: 1,
    });
    // No input at all: no share, rather than a 0 % that would read as "the cache never helped".
    const refused = await usage('?from=2027-01-13&to=2027-01-13');
    expect(refused.rows[0]).toMatchObject({
      requests: 1,
      sentTokens: 0,
      cacheReadShare: null,
      costUsd: 0,
      priceVersions: [],
    });
  });

  it('by key: each key summed over the days, busiest first, named while its record exists', async () => {
    const report = await usage('?by=key');
    expect(report.rows.map((r) => [r.id, r.name])).toEqual([
      [alice, 'alice'],
      ['key_gone', undefined],
    ]);
    const week = requests.filter(inRange('2027-01-09', '2027-01-15'));
    // Each key also carries its current UTC month (NOW is in 2027-01), whatever the range: what a monthly budget counts.
    const month = (keyId: string) => ({
      month: '2027-01',
      ...expectedTotals(requests.filter((r) => r.keyId === keyId && r.day.startsWith('2027-01'))),
    });
    expect(report.rows[0]).toEqual({
      id: alice,
      name: 'alice',
      ...expectedTotals(week.filter((r) => r.keyId === alice)),
      month: month(alice),
    });
    expect(report.rows[0]).toMatchObject({
      requests: 4,
      errors: 1,
      aborted: 1,
      inputTokens: 340,
      sentTokens: 1350,
      receivedTokens: 350,
      costUsd: 0.3,
      unpricedRequests: 1,
    });
    expect(report.rows[1]).toEqual({
      id: 'key_gone',
      ...expectedTotals(week.filter((r) => r.keyId === 'key_gone')),
      month: month('key_gone'),
    });
    // key_gone's month holds its big day of the 1st, outside the week.
    expect(report.rows[1]?.month).toMatchObject({ requests: 2, costMicros: 12_345_768, costUsd: 12.345768 });

    // A range in another month still shows the current month.
    const december = await usage('?by=key&from=2026-12-01&to=2026-12-31');
    expect(december.rows).toEqual([]);

    // Over a range that holds its big day, the record-less key is the busiest.
    const wide = await usage('?by=key&from=2027-01-01&to=2027-01-15');
    expect(wide.rows.map((r) => r.id)).toEqual(['key_gone', alice]);
    expect(wide.rows[0]).toMatchObject({ requests: 2, sentTokens: 7005, receivedTokens: 7005, costUsd: 12.345768 });
  });

  it('by node: requests no node answered are in the totals but in no row', async () => {
    const report = await usage('?by=node');
    const week = requests.filter(inRange('2027-01-09', '2027-01-15'));
    expect(report.rows).toEqual([
      { id: 'node-a', ...expectedTotals(week.filter((r) => r.nodeId === 'node-a')) },
      { id: 'node-b', ...expectedTotals(week.filter((r) => r.nodeId === 'node-b')) },
    ]);
    expect(report.rows.reduce((n, r) => n + Number(r.requests), 0)).toBe(4);
    expect(report.totals.requests).toBe(5);
  });

  it('by model, including a model id with ":"', async () => {
    const report = await usage('?by=model&from=2027-01-01&to=2027-01-15');
    expect(report.rows).toEqual([
      { id: OPUS_BETA, ...expectedTotals(requests.filter((r) => r.model === OPUS_BETA)) },
      { id: SONNET, ...expectedTotals(requests.filter((r) => r.model === SONNET)) },
    ]);
    expect(report.rows[0]).toMatchObject({ requests: 2, sentTokens: 7200, receivedTokens: 7300 });
  });

  it('takes the range from from/to: one day, or six days back from `to`', async () => {
    const one = await usage('?by=model&from=2027-01-13&to=2027-01-13');
    expect(one.rows).toEqual([{ id: SONNET, ...expectedTotals(requests.filter((r) => r.day === '2027-01-13')) }]);
    expect(one.totals.requests).toBe(1);

    const back = await usage('?to=2027-01-07');
    expect(back).toMatchObject({ from: '2027-01-01', to: '2027-01-07' });
    expect(back.rows[0]).toMatchObject({ id: '2027-01-01', requests: 1, inputTokens: 7000 });
    expect(back.totals.requests).toBe(1);

    const fromOnly = await usage('?from=2027-01-14');
    expect(fromOnly).toMatchObject({ from: '2027-01-14', to: '2027-01-15' });
    expect(fromOnly.rows).toHaveLength(2);
  });

  it('answers a full year of days (366) and empty groupings', async () => {
    const year = await usage('?from=2026-01-15&to=2027-01-15');
    expect(year.rows).toHaveLength(366);
    expect(year.totals).toEqual(expectedTotals(requests));
    const empty = await usage('?by=key&from=2026-06-01&to=2026-06-30');
    expect(empty.rows).toEqual([]);
    expect(empty.totals.requests).toBe(0);
    expect(empty.allTime.requests).toBe(6);
  });

  it.each([
    ['a day that is not YYYY-MM-DD', '?from=2027-1-5', /from: expected a day as YYYY-MM-DD/],
    ['a day that does not exist', '?to=2027-02-30', /to: not a calendar day/],
    ['from after to', '?from=2027-01-10&to=2027-01-09', /from \(2027-01-10\) is after to \(2027-01-09\)/],
    ['from in the future with no to', '?from=2027-02-01', /is after to \(2027-01-15\)/],
    ['a range of 367 days', '?from=2026-01-14&to=2027-01-15', /367 days; at most 366/],
    ['an unknown grouping', '?by=user', /by:/],
    ['an unknown parameter', '?form=2027-01-01', /form/],
    ['a repeated parameter', '?from=2027-01-01&from=2027-01-02', /from:/],
  ])('refuses %s with a 400 envelope', async (_label, query, message) => {
    const res = await request(app).get(`/admin/usage${query}`).set(AUTH).expect(400);
    expect(res.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect((res.body as { error: { message: string } }).error.message).toMatch(message);
  });

  it.each(['/admin/usage', '/admin/usage?by=key', '/admin/usage/recent'])(
    'refuses %s without the admin token',
    async (path) => {
      const missing = await request(app).get(path).expect(401);
      expect(missing.body).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
      await request(app)
        .get(path)
        .set({ authorization: `Bearer ${TOKEN.slice(0, -1)}x` })
        .expect(401);
    },
  );

  describe('recent requests', () => {
    it('shows what each request cost and saved, in USD beside the micros, and whether it was priced', async () => {
      const res = await request(app).get(`/admin/usage/recent?limit=${RECENT_REQUESTS_KEPT}`).set(AUTH).expect(200);
      const byId = new Map(
        (res.body as { requests: (RecentRequest & { costUsd: number; cacheSavingsUsd: number })[] }).requests.map(
          (r) => [r.requestId, r],
        ),
      );
      expect(byId.get('req_30')).toMatchObject({
        costMicros: 30_030,
        costUsd: 0.03003,
        priced: false,
        cacheSavingsMicros: -30,
        cacheSavingsUsd: -0.00003,
      });
      expect(byId.get('req_7')).toMatchObject({
        costMicros: 7_007,
        costUsd: 0.007007,
        priced: true,
        cacheSavingsUsd: 0,
      });
      expect(byId.get('req_before_prices')).toMatchObject({
        costMicros: 0,
        costUsd: 0,
        priced: true,
        cacheSavingsMicros: 0,
        cacheSavingsUsd: 0,
      });
    });

    it('names the client API each request came in on; an entry written before routes were named was a Messages request', async () => {
      const res = await request(app).get(`/admin/usage/recent?limit=${RECENT_REQUESTS_KEPT}`).set(AUTH).expect(200);
      const byId = new Map((res.body as { requests: RecentRequest[] }).requests.map((r) => [r.requestId, r]));
      expect([byId.get('req_8')?.route, byId.get('req_7')?.route, byId.get('req_before_prices')?.route]).toEqual([
        'chat_completions',
        'messages',
        'messages',
      ]);
    });

    beforeAll(async () => {
      // Pushed oldest first, so the list reads newest first, as the worker leaves it.
      for (let i = 1; i <= 60; i += 1) await client.lpush(keys.recent(), JSON.stringify(recentEntry(i)));
      await client.lpush(
        keys.recent(),
        '{"requestId":"req_torn"',
        JSON.stringify({ requestId: 'req_old_version', at: NOW }),
      );
      // An entry written before requests were priced reads as costing 0 $, priced.
      const { costMicros: _c, priced: _p, cacheSavingsMicros: _s, route: _r, ...unpricedEra } = recentEntry(0);
      await client.rpush(keys.recent(), JSON.stringify({ ...unpricedEra, requestId: 'req_before_prices' }));
      await client.ltrim(keys.recent(), 0, RECENT_REQUESTS_KEPT - 1);
    });

    const idsOf = (body: unknown) => (body as { requests: RecentRequest[] }).requests.map((r) => r.requestId);

    it('answers the newest first, up to the limit, skipping entries it cannot read', async () => {
      const res = await request(app).get('/admin/usage/recent?limit=5').set(AUTH).expect(200);
      // The two unreadable entries are the newest: they take two of the five places.
      expect(idsOf(res.body)).toEqual(['req_60', 'req_59', 'req_58']);
      expect((res.body as { requests: RecentRequest[] }).requests[0]).toEqual(recentView(60));
    });

    it('answers 50 by default and at most what the list keeps', async () => {
      const byDefault = await request(app).get('/admin/usage/recent').set(AUTH).expect(200);
      expect(idsOf(byDefault.body)).toEqual(Array.from({ length: 48 }, (_, i) => `req_${60 - i}`));
      const all = await request(app).get(`/admin/usage/recent?limit=${RECENT_REQUESTS_KEPT}`).set(AUTH).expect(200);
      expect(idsOf(all.body)).toHaveLength(61);
    });

    it.each(['0', '-1', '2.5', 'ten', String(RECENT_REQUESTS_KEPT + 1)])(
      'refuses limit=%s with a 400',
      async (limit) => {
        const res = await request(app).get(`/admin/usage/recent?limit=${limit}`).set(AUTH).expect(400);
        expect((res.body as { error: { message: string } }).error.message).toMatch(/^Invalid query: limit:/);
      },
    );
  });

  it('an empty list answers no requests', async () => {
    const other = express();
    other.use(
      '/admin',
      createAdminRouter({
        store,
        keys: createKeyspace(`${prefix}empty:`),
        adminToken: TOKEN,
        registry: { nodes: () => [] },
        log: createNullLogger(),
        now: () => NOW,
      }),
    );
    await request(other).get('/admin/usage/recent').set(AUTH).expect(200, { requests: [] });
    const res = await request(other).get('/admin/usage?by=node').set(AUTH).expect(200);
    expect((res.body as Report).allTime).toEqual(expectedTotals([]));
  });
});

describe('admin API: usage accounting lag', () => {
  const prefix = uniquePrefix('admin-usage-lag');
  const keys = createKeyspace(prefix);
  let client: Redis;
  let store: SharedStore;
  let queueConnection: Redis;
  let queue: Queue;

  function appWith(deps: Partial<AdminRouterDeps>): express.Express {
    const app = express();
    app.use(
      '/admin',
      createAdminRouter({
        store,
        keys,
        adminToken: TOKEN,
        registry: { nodes: () => [] },
        log: createNullLogger(),
        now: () => NOW,
        ...deps,
      }),
    );
    return app;
  }

  beforeAll(async () => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    queueConnection = createIoRedisClient(testRedisUrl(), { maxRetriesPerRequest: null });
    queue = new Queue('usage', { connection: queueConnection, prefix: queuePrefix(prefix) });
    // No worker runs: three requests wait to be counted, the oldest for 95 s; one waits out a retry.
    await queue.add('usage', { n: 1 }, { timestamp: NOW - 95_000 });
    await queue.add('usage', { n: 2 }, { timestamp: NOW - 30_000 });
    await queue.add('usage', { n: 3 }, { timestamp: NOW - 2_000 });
    await queue.add('usage', { n: 4 }, { timestamp: NOW - 500_000, delay: 60_000 });
  });

  afterAll(async () => {
    await queue.close();
    queueConnection.disconnect();
    await deleteKeys(client, prefix);
    await store.close();
    await client.quit();
  });

  it('shows how far the counted totals trail: lagSeconds and the queue by state, with the warning threshold', async () => {
    const app = appWith({ queueLag: createQueueLagReader({ queue, now: () => NOW }), lagWarnSeconds: 90 });
    for (const by of ['day', 'key']) {
      const res = await request(app).get(`/admin/usage?by=${by}`).set(AUTH).expect(200);
      expect(res.body).toMatchObject({
        lagSeconds: 95,
        queue: { waiting: 3, active: 0, delayed: 1, failed: 0, lagSeconds: 95 },
        lagWarnSeconds: 90,
      });
      expect(Object.keys((res.body as { queue: object }).queue).sort()).toEqual([
        'active',
        'delayed',
        'failed',
        'lagSeconds',
        'waiting',
      ]);
    }
  });

  it('answers the totals with lagSeconds and queue null when the queue cannot be read, or without a reader', async () => {
    const never = new Promise<never>(() => undefined);
    const silent = createQueueLagReader({
      queue: {
        getJobCounts: () => never,
        getRanges: () => never,
        toKey: (t) => t,
        getBackend: () => ({ client: never }),
      },
      now: () => NOW,
      timeoutMs: 20,
    });
    for (const app of [appWith({ queueLag: silent }), appWith({})]) {
      const res = await request(app).get('/admin/usage').set(AUTH).expect(200);
      expect(res.body).toMatchObject({ by: 'day', lagSeconds: null, queue: null, lagWarnSeconds: 60 });
      expect((res.body as Report).totals).toEqual(expectedTotals([]));
    }
  });
});
