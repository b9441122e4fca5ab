// The dashboard end to end: a gateway, two node-agents dialled in and the usage worker as real processes, known
// traffic through the gateway, then Debian's Chromium (headless, driven by playwright-core) signs in at /dashboard and
// must show both nodes (and an enrolled one that never connected, as offline), charts whose numbers equal
// GET /admin/usage, the recent requests, and new traffic without a reload. Also the static serving itself: types, CSP, revalidation, 404s, no way out of the directory.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';
import { DASHBOARD_CSP } from './dashboard-router.js';

jest.setTimeout(120_000);

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const SCREENSHOT = join(ARTIFACTS, 'dashboard.png');

let chain: Stack;
let browser: Browser | undefined;

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), worker: true });
  await chain.waitReady();
  if (hasChromium)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
  else
    console.warn(
      `dashboard browser test SKIPPED: ${CHROMIUM} not found (on Debian/Ubuntu: apt-get install -y chromium)`,
    );
});
afterAll(async () => {
  await browser?.close();
  await chain?.stop();
});

/** A raw GET, so paths like `/dashboard/../x` reach the gateway exactly as written (fetch would normalise them). */
function rawGet(
  path: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const { hostname, port } = new URL(chain.gatewayUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ hostname, port, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('static files', () => {
  it('redirects /dashboard to /dashboard/ and serves the page with its content types, a strict CSP and revalidation', async () => {
    const bare = await fetch(`${chain.gatewayUrl}/dashboard?refresh=2`, { redirect: 'manual' });
    expect(bare.status).toBe(301);
    expect(bare.headers.get('location')).toBe('/dashboard/?refresh=2');

    const expected: Record<string, string> = {
      '/dashboard/': 'text/html; charset=utf-8',
      '/dashboard/index.html': 'text/html; charset=utf-8',
      '/dashboard/app.js': 'text/javascript; charset=utf-8',
      '/dashboard/usage.js': 'text/javascript; charset=utf-8',
      '/dashboard/dashboard.css': 'text/css; charset=utf-8',
      '/dashboard/favicon.svg': 'image/svg+xml',
    };
    for (const [path, type] of Object.entries(expected)) {
      const res = await fetch(`${chain.gatewayUrl}${path}`);
      expect([path, res.status, res.headers.get('content-type')]).toEqual([path, 200, type]);
      expect(res.headers.get('content-security-policy')).toBe(DASHBOARD_CSP);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('cache-control')).toBe('no-cache');
      expect((await res.text()).length).toBeGreaterThan(100);
    }
    // Self only: no script, style or connection to any other origin, no inline script.
    const directives = DASHBOARD_CSP.split('; ').map((d): [string, string] => {
      const [name = '', ...values] = d.split(' ');
      return [name, values.join(' ')];
    });
    expect(Object.fromEntries(directives)).toMatchObject({
      'default-src': "'self'",
      'script-src': "'self'",
      'style-src': "'self'",
      'connect-src': "'self'",
      'frame-ancestors': "'none'",
    });

    const page = await fetch(`${chain.gatewayUrl}/dashboard/`);
    const html = await page.text();
    expect(html).toContain('<script type="module" src="app.js">');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/\sstyle=|https?:\/\//); // no inline style, nothing fetched from elsewhere
    const etag = page.headers.get('etag');
    expect(etag).toMatch(/^".+"$/);
    const again = await fetch(`${chain.gatewayUrl}/dashboard/`, { headers: { 'if-none-match': etag ?? '' } });
    expect(again.status).toBe(304);
  });

  it('answers unknown files, other methods and every way out of the directory with a 404 envelope', async () => {
    const unknown = await fetch(`${chain.gatewayUrl}/dashboard/nope.js`);
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
    const post = await fetch(`${chain.gatewayUrl}/dashboard/`, { method: 'POST', body: 'token=x' });
    expect(post.status).toBe(404);

    const escapes = [
      '/dashboard/../package.json',
      '/dashboard/../../package.json',
      '/dashboard/%2e%2e/%2e%2e/package.json',
      '/dashboard/..%2f..%2fpackage.json',
      '/dashboard/..%5c..%5cpackage.json',
      '/dashboard//etc/passwd',
      '/dashboard/%2fetc%2fpasswd',
      '/dashboard/../../src/main.ts',
      '/dashboard/index.html%00.js',
    ];
    for (const path of escapes) {
      const res = await rawGet(path);
      expect([path, res.status]).toEqual([path, 404]);
      expect(res.headers['content-type']).toBe('application/json');
      expect((JSON.parse(res.body) as { error: { type: string } }).error.type).toBe('not_found_error');
      expect(res.body).not.toMatch(/workspaces|"dependencies"|root:|createLogger/);
    }
  });
});

// ---- traffic and the usage API ----

interface UsageRowJson {
  id: string;
  name?: string;
  requests: number;
  sentTokens: number;
  receivedTokens: number;
  errors: number;
  costUsd: number;
}
interface UsageJson {
  rows: UsageRowJson[];
  totals: UsageRowJson & { inputTokens: number };
  queue: { waiting: number; active: number; delayed: number; failed: number; lagSeconds: number } | null;
}

const SYSTEM =
  'You are the dispatcher of a freight yard. Answer in one sentence, naming the track and the departure time.';

async function send(key: string, model: string, stream: boolean, n: number): Promise<void> {
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    // A cached system prompt, so "sent" (input + cache writes + cache reads) differs from the input tokens alone.
    body: JSON.stringify({
      model,
      max_tokens: 128,
      stream,
      system: [{ type: 'text', text: SYSTEM, cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user', content: `Which track does train ${n} leave from?` }],
    }),
  });
  const body = await res.text();
  expect([res.status, body.slice(0, 200)]).toEqual([200, expect.any(String)]);
}

async function usage(by: 'day' | 'key' | 'model'): Promise<UsageJson> {
  const res = await chain.admin('GET', `/usage?by=${by}`);
  expect(res.status).toBe(200);
  return (await res.json()) as UsageJson;
}

async function recentIds(): Promise<string[]> {
  const res = await chain.admin('GET', '/usage/recent?limit=25');
  return ((await res.json()) as { requests: { requestId: string }[] }).requests.map((r) => r.requestId);
}

/** Waits until the worker has counted n requests everywhere the page reads: the day totals, the model rows and the recent list. */
async function waitCounted(n: number): Promise<void> {
  let seen = '';
  await waitFor(
    `${n} requests counted in the day totals, the model rows and the recent list`,
    async () => {
      const [day, model, recent] = await Promise.all([usage('day'), usage('model'), recentIds()]);
      const byModel = model.rows.reduce((sum, r) => sum + r.requests, 0);
      seen = `counted ${day.totals.requests}/${byModel}/${recent.length} of ${n}`;
      return day.totals.requests === n && byModel === n && recent.length === n;
    },
    { timeoutMs: 30_000, intervalMs: 150, detail: () => `${seen}\n${chain.worker?.output() ?? ''}` },
  );
}

// ---- reading the page ----

const int = (text: string | null | undefined): number => Number((text ?? '').replace(/,/g, '').trim());

/** Table rows as a reader sees them: the row's id attribute and the text of the named cells. */
/**
 * Waits until a page expression is true. Polls with page.evaluate (run over the DevTools protocol) rather than
 * waitForFunction, whose string predicates are eval'd inside the page, which the dashboard's CSP forbids.
 */
async function waitForPage(page: Page, expression: string, timeoutMs = 15_000): Promise<void> {
  await waitFor(`the page to satisfy ${expression}`, () => page.evaluate<boolean>(expression), {
    timeoutMs,
    intervalMs: 100,
  });
}

async function readRows(
  page: Page,
  selector: string,
  idAttr: string,
  fields: string[],
): Promise<Record<string, string>[]> {
  const out: Record<string, string>[] = [];
  for (const row of await page.locator(selector).all()) {
    const entry: Record<string, string> = { id: (await row.getAttribute(idAttr)) ?? '' };
    for (const field of fields)
      entry[field] = ((await row.locator(`[data-field="${field}"]`).first().textContent()) ?? '').trim();
    out.push(entry);
  }
  return out;
}

/** The numbers a chart's table shows. */
async function chartTable(page: Page, grouping: 'day' | 'key' | 'model'): Promise<UsageRowJson[]> {
  const rows = await readRows(page, `[data-testid="usage-table-${grouping}"] [data-testid="usage-row"]`, 'data-id', [
    'requests',
    'sentTokens',
    'receivedTokens',
    'errors',
    'costUsd',
  ]);
  return rows.map((r) => ({
    id: r.id ?? '',
    requests: int(r.requests),
    sentTokens: int(r.sentTokens),
    receivedTokens: int(r.receivedTokens),
    errors: int(r.errors),
    costUsd: Number((r.costUsd ?? '').replace(/[$,]/g, '')),
  }));
}

function figures(rows: UsageRowJson[]): UsageRowJson[] {
  return rows.map((r) => ({
    id: r.id,
    requests: r.requests,
    sentTokens: r.sentTokens,
    receivedTokens: r.receivedTokens,
    errors: r.errors,
    costUsd: r.costUsd,
  }));
}

async function expectChartsMatchApi(page: Page): Promise<void> {
  for (const by of ['day', 'key', 'model'] as const) {
    const api = await usage(by);
    expect([by, await chartTable(page, by)]).toEqual([by, figures(api.rows)]);
  }
}

const describeBrowser = hasChromium ? describe : describe.skip;

describeBrowser('in Chromium', () => {
  it('signs in, shows both nodes, charts equal to the usage API and the recent requests, and follows new traffic live', async () => {
    // Known traffic: two keys (one named with markup, which must show as text), two models, streamed and not.
    const aliceName = `alice-${randomBytes(3).toString('hex')}`;
    const alice = await chain.createKey({ name: aliceName });
    const markupName = `<img src=x data-evil=1> & "Bob's" key ${randomBytes(3).toString('hex')}`;
    const bob = await chain.createKey({ name: markupName });
    let n = 0;
    await send(alice.key, 'claude-sonnet-4-6', false, ++n);
    await send(alice.key, 'claude-sonnet-4-6', true, ++n);
    await send(alice.key, 'claude-sonnet-4-6', false, ++n);
    await send(bob.key, 'claude-haiku-4-5', true, ++n);
    await send(bob.key, 'claude-haiku-4-5', true, ++n);
    await send(bob.key, 'claude-sonnet-4-6', false, ++n);
    await waitCounted(6);

    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } });
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    // The wrong token's 401 and the cut connections are logged as failed resources; anything else (CSP violations,
    // missing files, script errors) is a defect.
    page.on('console', (msg) => {
      if (msg.type() === 'error' && !/status of 401|net::ERR_FAILED|net::ERR_CONNECTION_REFUSED/.test(msg.text()))
        problems.push(`console: ${msg.text()}`);
    });
    try {
      await page.goto(`${chain.gatewayUrl}/dashboard?refresh=1`);
      expect(new URL(page.url()).pathname).toBe('/dashboard/');
      await page.getByTestId('signin').waitFor();

      // A gateway the browser cannot reach is named as such (the connection is cut in the browser's network layer).
      await page.route('**/admin/**', (route) => route.abort('connectionrefused'));
      await page.getByTestId('token-input').fill(chain.adminToken);
      await page.getByTestId('signin-button').click();
      await page.getByTestId('signin-error').waitFor();
      expect(await page.getByTestId('signin-error').textContent()).toBe(
        `Cannot reach the gateway at ${chain.gatewayUrl}: is it running?`,
      );
      await page.unroute('**/admin/**');

      // A wrong token is refused with a clear message, and nothing is kept.
      await page.getByTestId('token-input').fill(randomBytes(32).toString('hex'));
      await page.getByTestId('signin-button').click();
      await page.getByTestId('signin-error').waitFor();
      expect(await page.getByTestId('signin-error').textContent()).toMatch(/refused this admin token \(401\)/);
      expect(await page.getByTestId('board').isHidden()).toBe(true);
      expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);

      // Signed in: both nodes, available, with their build and a fresh heartbeat.
      await page.getByTestId('token-input').fill(chain.adminToken);
      await page.getByTestId('signin-button').click();
      await page.locator('[data-testid="fleet-row"]').nth(1).waitFor();
      expect(await page.getByTestId('signin').isHidden()).toBe(true);
      expect(await page.getByTestId('token-input').inputValue()).toBe('');
      // Signed in as admin (GET /admin/session): said in the header, and each node offers its drain switch.
      expect(await page.getByTestId('role').textContent()).toBe('admin');
      expect(await page.locator('[data-testid="drain-button"]').count()).toBe(2);
      const fleet = await readRows(page, '[data-testid="fleet-row"]', 'data-node-id', [
        'state',
        'version',
        'heartbeat',
        'fiveHour',
        'sevenDay',
      ]);
      type NodeJson = {
        nodeId: string;
        version: string;
        gitSha: string;
        fiveHour?: { utilization?: number };
        sevenDay?: { utilization?: number };
      };
      const nodes = ((await (await chain.admin('GET', '/nodes')).json()) as { nodes: NodeJson[] }).nodes;
      expect(fleet.map((r) => r.id)).toEqual(['node-a', 'node-b']);
      for (const row of fleet) {
        const node = nodes.find((x) => x.nodeId === row.id)!;
        expect(row.state).toBe('available');
        expect(row.version).toBe(`${node.version} · ${node.gitSha.slice(0, 7)}`);
        expect(row.heartbeat).toMatch(/^\d+s ago$/);
        // The fake upstream reports 5h and 7d utilization on every answer; the page shows them as percentages.
        expect(row.fiveHour).toBe(`${Math.round(node.fiveHour!.utilization! * 100)}%`);
        expect(row.sevenDay).toBe(`${Math.round(node.sevenDay!.utilization! * 100)}%`);
      }
      expect(await page.getByTestId('fleet-count').textContent()).toBe('2 nodes · 2 connected · 2 serving');
      expect(await page.getByTestId('mixed-versions').count()).toBe(0); // one build across the fleet

      // A node enrolled but not (yet) dialled in shows as offline, with its label; no row shows an address.
      const enrolled = await chain.admin('POST', '/nodes', { id: 'node-z', label: 'spare account' });
      expect(enrolled.status).toBe(201);
      await waitForPage(page, `document.querySelectorAll('[data-testid="fleet-row"]').length === 3`);
      const withOffline = await readRows(page, '[data-testid="fleet-row"]', 'data-node-id', [
        'nodeId',
        'state',
        'version',
        'heartbeat',
      ]);
      expect(withOffline.map((r) => r.id)).toEqual(['node-a', 'node-b', 'node-z']);
      expect(withOffline[2]).toEqual({
        id: 'node-z',
        nodeId: 'node-zspare account',
        state: 'offline',
        version: '–',
        heartbeat: '–',
      });
      expect(await page.getByTestId('fleet-count').textContent()).toBe('3 nodes · 2 connected · 2 serving');
      expect(await page.getByTestId('fleet-table').textContent()).not.toMatch(/https?:\/\/|127\.0\.0\.1/);

      // The charts' numbers equal the usage API's, per day, per key and per model (the cost column too); so do the totals.
      await page.locator('[data-testid="usage-table-model"] [data-testid="usage-row"]').nth(1).waitFor();
      await expectChartsMatchApi(page);
      const day = await usage('day');
      expect(int(await page.getByTestId('total-requests').textContent())).toBe(6);
      expect(int(await page.getByTestId('total-sent').textContent())).toBe(day.totals.sentTokens);
      expect(int(await page.getByTestId('total-received').textContent())).toBe(day.totals.receivedTokens);
      // Next to the totals: how far counting lags (the worker runs: under the 60 s threshold) and the queue by state.
      expect(await page.getByTestId('queue-lag-tile').getAttribute('data-state')).toBe('ok');
      expect(await page.getByTestId('queue-lag').textContent()).toMatch(/^\d+s$/);
      expect(await page.getByTestId('queue-depth').textContent()).toMatch(
        /^\d+ waiting · \d+ active · \d+ delayed · 0 failed$/,
      );
      expect(day.queue).toMatchObject({ failed: 0 });
      expect(day.totals.sentTokens).toBeGreaterThan(day.totals.inputTokens);
      expect(day.totals.inputTokens).toBeGreaterThan(0);
      expect((await chartTable(page, 'model')).map((r) => r.id).sort()).toEqual([
        'claude-haiku-4-5',
        'claude-sonnet-4-6',
      ]);
      // The drawn bars carry the same figures: one sent and one received bar per day, today's titled with its numbers.
      expect(await page.locator('[data-testid="chart-day"] rect.bar').count()).toBe(2 * day.rows.length);
      const today = day.rows.at(-1)!;
      const todayTitle = await page
        .locator('[data-testid="chart-day"] rect.bar.sent')
        .last()
        .locator('title')
        .textContent();
      expect(todayTitle).toContain(`sent ${today.sentTokens.toLocaleString('en-US')}`);
      expect(
        Number(await page.locator('[data-testid="chart-day"] rect.bar.sent').last().getAttribute('height')),
      ).toBeGreaterThan(0);

      // Key names are shown as text: the one with markup appears literally and creates no element.
      const keyLabels = (
        await readRows(page, '[data-testid="usage-table-key"] [data-testid="usage-row"]', 'data-id', ['name'])
      ).map((r) => r.name);
      expect(keyLabels.sort()).toEqual([aliceName, markupName].sort());
      expect(await page.locator('[data-evil]').count()).toBe(0);
      expect(await page.locator('main img').count()).toBe(0);

      // The recent requests: the same six, newest first, with key names and models.
      const recent = await readRows(page, '[data-testid="recent-row"]', 'data-request-id', ['key', 'model']);
      expect(recent.map((r) => r.id)).toEqual(await recentIds());
      expect(recent.filter((r) => r.key === aliceName && r.model === 'claude-sonnet-4-6')).toHaveLength(3);
      expect(recent.filter((r) => r.key === markupName && r.model === 'claude-haiku-4-5')).toHaveLength(2);

      // More traffic, a third model: the page follows without a reload.
      await page.evaluate('window.sameDocument = true');
      await send(bob.key, 'claude-opus-4-7', true, ++n);
      await send(alice.key, 'claude-opus-4-7', false, ++n);
      await waitCounted(8);
      await waitForPage(page, `document.querySelector('[data-testid="total-requests"]')?.textContent === '8'`);
      await waitForPage(page, `document.querySelectorAll('[data-testid="recent-row"]').length === 8`);
      expect(await page.evaluate<boolean>('window.sameDocument === true')).toBe(true);
      await expectChartsMatchApi(page);
      expect((await chartTable(page, 'model')).find((r) => r.id === 'claude-opus-4-7')?.requests).toBe(2);
      expect(await page.getByTestId('updated-ago').textContent()).toMatch(/^updated \d+s ago$/);

      // A roll-out half done (node-b on a newer build, as the admin API would group it): a visible badge, gone once the builds agree.
      await page.route('**/admin/nodes', async (route) => {
        const res = await route.fetch();
        const list = (await res.json()) as { versions: { version: string; gitSha: string; nodes: string[] }[] };
        const [one] = list.versions;
        const versions = [
          { version: '9.9.9', gitSha: 'fedcba9876', nodes: ['node-b'] },
          { ...one!, nodes: ['node-a'] },
        ];
        await route.fulfill({ response: res, json: { ...list, versions, mixedVersions: true } });
      });
      await page.getByTestId('mixed-versions').waitFor({ timeout: 10_000 });
      expect(await page.getByTestId('mixed-versions').textContent()).toBe('mixed versions (2 builds)');
      expect(await page.getByTestId('mixed-versions').getAttribute('title')).toMatch(
        /^9\.9\.9 · fedcba9 on node-b; \S+ · \S+ on node-a$/,
      );
      await page.unroute('**/admin/nodes');
      await page.getByTestId('mixed-versions').waitFor({ state: 'detached', timeout: 10_000 });

      // The gateway drops out: the page says so and keeps the last figures; when it answers again, the banner goes.
      await page.route('**/admin/**', (route) => route.abort('connectionrefused'));
      await page.getByTestId('banner').waitFor({ timeout: 10_000 });
      expect(await page.getByTestId('banner').textContent()).toMatch(
        /^Cannot reach the gateway at .*Retrying every 1s\. The figures below are from the last successful update\.$/,
      );
      expect(await page.getByTestId('updated-ago').textContent()).toMatch(/^update failed · updated \d+s ago$/);
      expect(await page.getByTestId('total-requests').textContent()).toBe('8');
      await page.unroute('**/admin/**');
      await page.getByTestId('banner').waitFor({ state: 'hidden', timeout: 10_000 });

      // The screenshot, kept as a test artifact.
      mkdirSync(ARTIFACTS, { recursive: true });
      rmSync(SCREENSHOT, { force: true });
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      const png = readFileSync(SCREENSHOT);
      expect(png.subarray(0, 8).toString('hex')).toBe('89504e470d0a1a0a');
      expect(png.length).toBeGreaterThan(30_000);
      expect(png.readUInt32BE(20)).toBeGreaterThan(1_200); // full page: taller than the viewport's 900 px

      // A reload keeps the session (this tab's sessionStorage); signing out forgets it.
      await page.reload();
      await page.locator('[data-testid="fleet-row"]').nth(1).waitFor();
      await page.getByTestId('signout').click();
      await page.getByTestId('signin').waitFor();
      expect(await page.locator('[data-testid="fleet-row"]').count()).toBe(0);
      expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);
      await page.reload();
      await page.getByTestId('signin').waitFor();
      expect(await page.getByTestId('board').isHidden()).toBe(true);

      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});
