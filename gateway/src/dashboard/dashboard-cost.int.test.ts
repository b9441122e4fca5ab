// The dashboard's dollars and cache figures in Debian's Chromium (headless, driven by playwright-core): the page and
// the real admin router served from this process on a real Redis, with usage written the way the usage worker writes
// it (integer micro-dollars per key, node, model and day). Every cost the page draws (the usage tables' cost column,
// the cost-per-day chart, the tiles, the cache panel, the recent requests) must equal GET /admin/usage's numbers, for
// the default range and a wider one. Recent events come from GET /admin/alerts when the gateway documents it, and the
// panel says so when it does not (without ever asking it, so no 404 is logged).
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import express from 'express';
import type { Redis } from 'ioredis';
import { chromium, type Browser, type Page } from 'playwright-core';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  utcDay,
  type AlertEvent,
  type SharedStore,
} from '@switchyard/shared';
import {
  deleteKeys,
  testRedisUrl,
  uniquePrefix,
  writeCountedUsage,
  type CountedUsage,
  waitFor,
} from '@switchyard/testkit';
import { createAdminRouter, type UsageRow } from '../admin/index.js';
import { createDashboardRouter } from './dashboard-router.js';

jest.setTimeout(60_000);

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const ADMIN_TOKEN = randomBytes(32).toString('hex');
const DAY_MS = 86_400_000;
// The gateway's clock; the browser's own clock plays no part in which days the page asks for.
const NOW = Date.parse('2027-01-15T08:00:00Z');
const day = (back: number) => utcDay(NOW - back * DAY_MS);

const prefix = uniquePrefix('dashboard-cost');
const keys = createKeyspace(prefix);
let client: Redis;
let store: SharedStore;
let server: Server;
let baseUrl = '';
let browser: Browser | undefined;

function traffic(alice: string, bob: string): CountedUsage[] {
  const sonnet = 'claude-sonnet-4-5';
  const opus = 'claude-opus-4-1';
  const v = 'genai-prices@0.1.8';
  const tokens = (input: number, write: number, read: number, output: number) => ({
    inputTokens: input,
    cacheCreationInputTokens: write,
    cacheReadInputTokens: read,
    outputTokens: output,
  });
  return [
    {
      day: day(0),
      keyId: alice,
      nodeId: 'node-a',
      model: sonnet,
      counters: {
        requests: 4,
        ...tokens(400, 100, 9000, 800),
        costMicros: 1_234_567,
        apiEquivalentMicros: 1_234_567,
        cacheSavingsMicros: 24_300,
      },
      priceVersion: v,
    },
    {
      day: day(0),
      keyId: bob,
      nodeId: 'node-b',
      model: opus,
      counters: {
        requests: 2,
        ...tokens(3000, 2000, 0, 500),
        costMicros: 98_765_432,
        cacheSavingsMicros: -2_500,
        cacheMisses: 2,
        stickyMoves: 1,
      },
      priceVersion: v,
    },
    {
      day: day(1),
      keyId: alice,
      nodeId: 'node-b',
      model: sonnet,
      counters: { requests: 1, ...tokens(10, 0, 0, 5), costMicros: 105 },
      priceVersion: v,
    },
    // A model with no price: counted at $0, flagged.
    {
      day: day(1),
      keyId: bob,
      nodeId: 'node-a',
      model: 'private-model',
      counters: { requests: 3, ...tokens(300, 0, 0, 30), unpricedRequests: 3 },
    },
    {
      day: day(3),
      keyId: alice,
      nodeId: 'node-a',
      model: sonnet,
      counters: {
        requests: 2,
        ...tokens(100, 50, 2000, 200),
        costMicros: 300_000,
        apiEquivalentMicros: 300_000,
        cacheSavingsMicros: 5_400,
      },
      priceVersion: 'genai-prices@0.1.7',
    },
    // Outside the default seven days: only the wider range shows it.
    {
      day: day(20),
      keyId: bob,
      nodeId: 'node-b',
      model: opus,
      counters: { requests: 1, ...tokens(5000, 0, 0, 1000), costMicros: 150_000_000 },
      priceVersion: 'genai-prices@0.1.7',
    },
  ];
}

function recentEntry(
  requestId: string,
  at: number,
  model: string,
  extra: { costMicros: number; priced: boolean; cacheSavingsMicros: number },
) {
  return {
    requestId,
    at,
    keyId: 'key_x',
    nodeId: 'node-a',
    model,
    stream: false,
    status: 200,
    aborted: false,
    stopReason: 'end_turn',
    inputTokens: 10,
    outputTokens: 5,
    cacheCreationInputTokens: 0,
    cacheReadInputTokens: 0,
    estimatedInputTokens: 10,
    estimatedOutputTokens: 5,
    estimateApproximate: false,
    durationMs: 100,
    ttfbMs: 50,
    ...extra,
  };
}

beforeAll(async () => {
  client = createIoRedisClient(testRedisUrl());
  store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
  const admin = createAdminRouter({
    store,
    keys,
    adminToken: ADMIN_TOKEN,
    registry: { nodes: () => [] },
    log: createNullLogger(),
    now: () => NOW,
  });
  server = createServer(express().use('/dashboard', createDashboardRouter()).use('/admin', admin));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const created = await Promise.all(
    ['alice', '<b>bob</b>'].map(async (name) => {
      const res = await fetch(`${baseUrl}/admin/keys`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      return ((await res.json()) as { record: { id: string } }).record.id;
    }),
  );
  for (const c of traffic(created[0] ?? '', created[1] ?? '')) await writeCountedUsage(client, keys, c);
  await client.lpush(
    keys.recent(),
    JSON.stringify(
      recentEntry('req_old', NOW - 60_000, 'claude-sonnet-4-5', {
        costMicros: 123,
        priced: true,
        cacheSavingsMicros: 0,
      }),
    ),
    JSON.stringify(
      recentEntry('req_unpriced', NOW - 30_000, 'private-model', {
        costMicros: 0,
        priced: false,
        cacheSavingsMicros: 0,
      }),
    ),
    JSON.stringify(
      recentEntry('req_new', NOW - 1_000, 'claude-opus-4-1', {
        costMicros: 49_382_716,
        priced: true,
        cacheSavingsMicros: -1_250,
      }),
    ),
  );
  if (hasChromium)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
  else
    console.warn(
      `dashboard cost browser test SKIPPED: ${CHROMIUM} not found (on Debian/Ubuntu: apt-get install -y chromium)`,
    );
});

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  await deleteKeys(client, prefix);
  await store.close();
  await client.quit();
});

// ---- the API's numbers ----

/** The figures of a GET /admin/usage row these checks compare with the page. */
type Row = Pick<
  UsageRow,
  | 'id'
  | 'requests'
  | 'costUsd'
  | 'apiEquivalentUsd'
  | 'cacheSavingsUsd'
  | 'cacheReadShare'
  | 'cacheMisses'
  | 'stickyMoves'
  | 'unpricedRequests'
  | 'priceVersions'
>;
interface Report {
  from: string;
  to: string;
  rows: Row[];
  totals: Row;
  allTime: Row;
  priceVersions: string[];
}

async function usage(query: string): Promise<Report> {
  const res = await fetch(`${baseUrl}/admin/usage?${query}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as Report;
}

// ---- reading the page ----

/** "$1,234.567891" or "-$0.00125" as the number it shows. */
const usd = (text: string | null): number => Number((text ?? '').trim().replace(/[$,]/g, ''));
/** "90.1%" as a fraction; "–" as null. */
const share = (text: string | null): number | null =>
  (text ?? '').trim() === '–' ? null : Number((text ?? '').replace('%', '')) / 100;

async function waitForPage(page: Page, expression: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(`the page to satisfy ${expression}`, () => page.evaluate<boolean>(expression), {
    timeoutMs,
    intervalMs: 100,
  });
}

async function text(page: Page, selector: string): Promise<string> {
  return ((await page.locator(selector).first().textContent()) ?? '').trim();
}

/** A table's rows as the reader sees their dollars and cache figures. */
async function tableRows(
  page: Page,
  selector: string,
): Promise<Omit<Row, 'apiEquivalentUsd' | 'cacheMisses' | 'stickyMoves' | 'requests'>[]> {
  const out = [];
  for (const row of await page.locator(selector).all()) {
    const cell = async (field: string) =>
      ((await row.locator(`[data-field="${field}"]`).first().textContent()) ?? '').trim();
    const flagged = await row.locator('[data-field="unpriced"]').count();
    out.push({
      id: (await row.getAttribute('data-id')) ?? '',
      costUsd: usd(await cell('costUsd')),
      cacheSavingsUsd: usd(await cell('cacheSavingsUsd')),
      cacheReadShare: share(await cell('cacheReadShare')),
      unpricedRequests:
        flagged === 0 ? 0 : Number((await cell('unpriced')).replace(/ unpriced$/, '').replace(/,/g, '')),
    });
  }
  return out;
}

/** The API's rows the way the page rounds them: dollars exact, the read share to a tenth of a percent. */
function asShown(rows: Row[]) {
  return rows.map((r) => ({
    id: r.id,
    costUsd: r.costUsd,
    cacheSavingsUsd: r.cacheSavingsUsd,
    cacheReadShare: r.cacheReadShare === null ? null : Number((r.cacheReadShare * 100).toFixed(1)) / 100,
    unpricedRequests: r.unpricedRequests,
  }));
}

/** The cost chart's bars: day, the dollars in its title, its label (when drawn) and the drawn height. */
async function costBars(
  page: Page,
): Promise<{ day: string; titleUsd: number; labelUsd: number | null; height: number; subscription: number }[]> {
  const bars = [];
  for (const bar of await page.locator('[data-testid="cost-bar"]').all()) {
    const title = (await bar.locator('rect.bar.cost title').textContent()) ?? '';
    const [titleDay = '', titleCost = ''] = title.split(' · ');
    const day = (await bar.getAttribute('data-day')) ?? '';
    expect(titleDay).toBe(day);
    const label = bar.locator('[data-field="costUsd"]');
    const subscription = bar.locator('rect.bar.subscription');
    bars.push({
      day,
      titleUsd: usd(titleCost),
      labelUsd: (await label.count()) === 0 ? null : usd(await label.textContent()),
      height: Number(await bar.locator('rect.bar.cost').getAttribute('height')),
      subscription: (await subscription.count()) === 0 ? 0 : Number(await subscription.getAttribute('height')),
    });
  }
  return bars;
}

/** Everything with a dollar or cache figure on the page equals the API's report for the same range. */
async function expectPageMatchesApi(page: Page, range: string, days: number): Promise<void> {
  const [byDay, byKey, byModel, byNode] = await Promise.all(
    ['day', 'key', 'model', 'node'].map((by) => usage(`by=${by}${range}`)),
  );
  if (!byDay || !byKey || !byModel || !byNode) throw new Error('no report');
  expect(byDay.rows).toHaveLength(days);

  // The usage tables' cost column (with its unpriced flag), read share and savings.
  expect(await tableRows(page, '[data-testid="usage-table-day"] [data-testid="usage-row"]')).toEqual(
    asShown(byDay.rows),
  );
  expect(await tableRows(page, '[data-testid="usage-table-key"] [data-testid="usage-row"]')).toEqual(
    asShown(byKey.rows),
  );
  expect(await tableRows(page, '[data-testid="usage-table-model"] [data-testid="usage-row"]')).toEqual(
    asShown(byModel.rows),
  );

  // The cost-per-day chart: one bar per day whose title (and label, for a short range) is the API's cost of that day,
  // drawn to scale (height proportional to the cost), with the part subscriptions served inside it.
  const bars = await costBars(page);
  expect(bars.map((b) => [b.day, b.titleUsd])).toEqual(byDay.rows.map((r) => [r.id, r.costUsd]));
  if (days <= 14)
    expect(bars.map((b) => b.labelUsd)).toEqual(byDay.rows.map((r) => (r.costUsd === 0 ? null : r.costUsd)));
  const tallest = Math.max(...bars.map((b) => b.height));
  const dearest = Math.max(...byDay.rows.map((r) => r.costUsd));
  expect(tallest).toBeGreaterThan(0);
  for (const [i, bar] of bars.entries()) {
    const row = byDay.rows[i]!;
    // To a ten-thousandth of a pixel: the drawn height is the day's cost on the same scale as the dearest day's.
    expect([bar.day, bar.height]).toEqual([row.id, expect.closeTo((tallest * row.costUsd) / dearest, 4)]);
    expect([bar.day, bar.subscription]).toEqual([
      row.id,
      expect.closeTo((tallest * row.apiEquivalentUsd) / dearest, 4),
    ]);
  }
  expect(
    usd((await text(page, '[data-testid="chart-cost"] figcaption')).split(' · ')[1]?.split(' from ')[0] ?? ''),
  ).toBe(byDay.totals.costUsd);

  // The tiles: the range's cost, what subscriptions served, what had no price, the prices used, and the cache.
  expect(usd(await text(page, '[data-testid="total-cost"]'))).toBe(byDay.totals.costUsd);
  expect(usd(await text(page, '[data-testid="total-api-equivalent"]'))).toBe(byDay.totals.apiEquivalentUsd);
  expect(Number(await text(page, '[data-testid="total-unpriced"]'))).toBe(byDay.totals.unpricedRequests);
  expect(await text(page, '[data-testid="price-versions"]')).toBe(byDay.priceVersions.join(', '));
  expect(share(await text(page, '[data-testid="cache-read-share"]'))).toBe(asShown([byDay.totals])[0]?.cacheReadShare);
  expect(usd(await text(page, '[data-testid="cache-savings"]'))).toBe(byDay.totals.cacheSavingsUsd);
  expect(Number(await text(page, '[data-testid="cache-misses"]'))).toBe(byDay.totals.cacheMisses);
  expect(Number(await text(page, '[data-testid="sticky-moves"]'))).toBe(byDay.totals.stickyMoves);

  // The cache panel, per node: cost, API value, read share, savings, misses and sticky moves.
  const nodes = [];
  for (const row of await page.locator('[data-testid="cache-row"]').all()) {
    const cell = async (field: string) =>
      ((await row.locator(`[data-field="${field}"]`).first().textContent()) ?? '').trim();
    nodes.push([
      await row.getAttribute('data-id'),
      usd(await cell('costUsd')),
      usd(await cell('apiEquivalentUsd')),
      usd(await cell('cacheSavingsUsd')),
      Number(await cell('cacheMisses')),
      Number(await cell('stickyMoves')),
    ]);
  }
  expect(nodes).toEqual(
    byNode.rows.map((r) => [r.id, r.costUsd, r.apiEquivalentUsd, r.cacheSavingsUsd, r.cacheMisses, r.stickyMoves]),
  );
}

const describeBrowser = hasChromium ? describe : describe.skip;

describeBrowser('dashboard cost and cache in Chromium', () => {
  let page: Page;
  const problems: string[] = [];
  const asked: string[] = [];

  beforeEach(async () => {
    problems.length = 0;
    asked.length = 0;
    page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    // Any console error (a CSP violation, a missing file, a 404 the page asked for) is a defect.
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('request', (req) => asked.push(new URL(req.url()).pathname));
  });

  afterEach(async () => {
    await page.close();
  });

  async function signIn(): Promise<void> {
    await page.goto(`${baseUrl}/dashboard/?refresh=1`);
    await page.getByTestId('token-input').fill(ADMIN_TOKEN);
    await page.getByTestId('signin-button').click();
    await page.locator('[data-testid="cost-bar"]').first().waitFor();
  }

  it("shows the cost column, the cost-per-day chart, the tiles and the cache panel with the API's numbers, for 7 and 30 days", async () => {
    // A gateway from before GET /admin/alerts: its document does not list the route.
    await page.route('**/admin/openapi.json', async (route) => {
      const res = await route.fetch();
      const doc = (await res.json()) as { paths: Record<string, unknown> };
      const { '/admin/alerts': _alerts, ...paths } = doc.paths;
      await route.fulfill({ response: res, json: { ...doc, paths } });
    });
    await signIn();
    await expectPageMatchesApi(page, '', 7);
    // Concretely: today's 1.234567 $ + 98.765432 $, summed as micro-dollars, is exactly 100.000 $ (0.000000 left over).
    expect(await text(page, `[data-testid="usage-table-day"] [data-id="${day(0)}"] [data-field="costUsd"]`)).toBe(
      '$99.999999',
    );
    expect(await text(page, '[data-testid="total-cost"]')).toBe('$100.300104');
    // Bob's unpriced model is flagged on his row and the model's, not on Alice's.
    expect(
      await page
        .locator('[data-testid="usage-table-model"] [data-id="private-model"] [data-field="unpriced"]')
        .textContent(),
    ).toBe('3 unpriced');
    expect(await page.locator('[data-testid="total-unpriced-tile"]').getAttribute('class')).toBe('tile warn');
    // The key named with markup is shown as text.
    expect(await page.locator('main b').count()).toBe(0);

    // The recent requests carry their cost, and "unpriced" for a model with no price.
    const recent = await page.locator('[data-testid="recent-row"]').all();
    expect(await Promise.all(recent.map((r) => r.getAttribute('data-request-id')))).toEqual([
      'req_new',
      'req_unpriced',
      'req_old',
    ]);
    expect(
      await Promise.all(recent.map(async (r) => ((await r.locator('[data-field="cost"]').textContent()) ?? '').trim())),
    ).toEqual(['$49.382716', 'unpriced', '$0.000123']);

    // A wider range: the page asks for 30 days ending on the gateway's today, and still draws the API's numbers.
    await page.getByTestId('range').selectOption('30');
    await waitForPage(page, `document.querySelectorAll('[data-testid="cost-bar"]').length === 30`);
    await expectPageMatchesApi(page, `&from=${day(29)}`, 30);
    expect(await text(page, '[data-testid="total-cost"]')).toBe('$250.300104');

    // This gateway has no /admin/alerts: the events panel says so, and the page never asked for it (no 404 logged).
    expect(await text(page, '[data-testid="events-unavailable"]')).toBe('This gateway does not list alert events.');
    expect(asked.filter((p) => p === '/admin/alerts')).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('shows the recent events newest first, as text, once the gateway documents GET /admin/alerts', async () => {
    const events: AlertEvent[] = [
      {
        id: 'budget:key_a:daily:80:2027-01-15',
        type: 'budget_threshold',
        at: NOW - 60_000,
        message: 'Key alice crossed 80 % of its daily budget of $5.00',
        keyId: 'key_a',
        data: { threshold: 80 },
      },
      {
        id: 'node_lost:node-b:1',
        type: 'node_lost',
        at: NOW - 3_600_000,
        message: 'Node <img src=x data-evil=1> left the fleet without draining',
        nodeId: 'node-b',
        data: {},
      },
    ];
    // A gateway whose document lists the route, and the route answers (whether or not this build has it).
    await page.route('**/admin/openapi.json', async (route) => {
      const res = await route.fetch();
      const doc = (await res.json()) as { paths: Record<string, unknown> };
      await route.fulfill({ response: res, json: { ...doc, paths: { ...doc.paths, '/admin/alerts': { get: {} } } } });
    });
    await page.route('**/admin/alerts', (route) => route.fulfill({ json: { alerts: events } }));
    await signIn();
    await page.locator('[data-testid="event-row"]').nth(1).waitFor();
    const rows = await page.locator('[data-testid="event-row"]').all();
    expect(await Promise.all(rows.map((r) => r.getAttribute('data-event-id')))).toEqual(events.map((e) => e.id));
    expect(
      await Promise.all(
        rows.map(async (r) => ((await r.locator('[data-field="message"]').textContent()) ?? '').trim()),
      ),
    ).toEqual(events.map((e) => e.message));
    expect(
      await Promise.all(
        rows.map(async (r) => ((await r.locator('[data-field="subject"]').textContent()) ?? '').trim()),
      ),
    ).toEqual(['key key_a', 'node node-b']);
    expect(await rows[1]!.locator('[data-field="type"]').textContent()).toBe('node lost');
    expect(await page.locator('[data-evil]').count()).toBe(0);
    expect(await text(page, '[data-testid="events-count"]')).toBe('2 events');
    expect(problems).toEqual([]);
  });
});
