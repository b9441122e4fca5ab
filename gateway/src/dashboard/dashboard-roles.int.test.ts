// The dashboard's two roles in Debian's Chromium (headless, driven by playwright-core): the page and the real admin
// router served from this process on a real Redis, with a fleet of one connected and one enrolled node. Signed in
// with the read-only token the header says "read-only", the figures show and no control that writes exists (nor does
// the page ever send anything but GET); signed in with the admin token the header says "admin" and each node has a
// Drain/Resume button that works.
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
  initialAccountState,
  type SharedStore,
} from '@switchyard/shared';
import { scanKeys, testRedisUrl, uniquePrefix, waitFor } from '@switchyard/testkit';
import { createAdminRouter } from '../admin/index.js';
import { createEnrolmentRepository } from '../nodes/index.js';
import type { NodeView } from '../routing/index.js';
import { createDashboardRouter } from './dashboard-router.js';

jest.setTimeout(60_000);

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
const ADMIN_TOKEN = randomBytes(32).toString('hex');
const READ_TOKEN = randomBytes(32).toString('hex');

const prefix = uniquePrefix('dashboard-roles');
const keys = createKeyspace(prefix);
let client: Redis;
let store: SharedStore;
let server: Server;
let baseUrl = '';
let browser: Browser | undefined;

function connected(nodeId: string): NodeView {
  const now = Date.now();
  const record = {
    nodeId,
    accountKind: 'oauth' as const,
    accountLabel: `${nodeId}@example.test`,
    state: initialAccountState(now - 1000),
    inFlight: 0,
    version: '0.3.0',
    gitSha: 'abcdef1234',
    startedAt: now - 60_000,
    heartbeatAt: now - 1000,
  };
  return { record, adminDrained: false };
}

beforeAll(async () => {
  client = createIoRedisClient(testRedisUrl());
  store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
  const enrolments = createEnrolmentRepository({ store, keys });
  await enrolments.create('node-a', 'laptop account');
  await enrolments.create('node-b');
  const admin = createAdminRouter({
    store,
    keys,
    adminToken: ADMIN_TOKEN,
    readToken: READ_TOKEN,
    registry: { nodes: () => [connected('node-a')] },
    enrolments,
    log: createNullLogger(),
  });
  server = createServer(express().use('/dashboard', createDashboardRouter()).use('/admin', admin));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  if (hasChromium)
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu'],
    });
  else
    console.warn(
      `dashboard roles browser test SKIPPED: ${CHROMIUM} not found (on Debian/Ubuntu: apt-get install -y chromium)`,
    );
});

afterAll(async () => {
  await browser?.close();
  server?.closeAllConnections();
  await new Promise((r) => server?.close(r));
  const left = await scanKeys(client, prefix);
  if (left.length > 0) await client.del(...left);
  await store.close();
  await client.quit();
});

/** Polls a page expression over the DevTools protocol (the page's CSP forbids waitForFunction's eval). */
async function waitForPage(page: Page, expression: string, timeoutMs = 10_000): Promise<void> {
  await waitFor(`the page to satisfy ${expression}`, () => page.evaluate<boolean>(expression), {
    timeoutMs,
    intervalMs: 100,
  });
}

/** The value of an attribute on every element a locator matches, in page order. */
async function attributes(page: Page, selector: string, name: string): Promise<(string | null)[]> {
  return Promise.all((await page.locator(selector).all()).map((el) => el.getAttribute(name)));
}

/** Opens the dashboard and signs in; resolves once both fleet rows are drawn. */
async function signIn(page: Page, token: string): Promise<void> {
  await page.goto(`${baseUrl}/dashboard/?refresh=1`);
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('signin-button').click();
  await page.locator('[data-testid="fleet-row"]').nth(1).waitFor();
}

const describeBrowser = hasChromium ? describe : describe.skip;

describeBrowser('dashboard roles in Chromium', () => {
  let page: Page;
  const problems: string[] = [];
  const writes: string[] = [];

  beforeEach(async () => {
    problems.length = 0;
    writes.length = 0;
    page = await browser!.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()}`);
    });
    page.on('request', (req) => {
      if (req.method() !== 'GET') writes.push(`${req.method()} ${req.url()}`);
    });
  });

  afterEach(async () => {
    await page.close();
  });

  it('read-only: the header says so, the figures show, and no control that writes exists', async () => {
    await signIn(page, READ_TOKEN);
    expect(await page.getByTestId('role').textContent()).toBe('read-only');
    expect(await page.getByTestId('role').getAttribute('data-role')).toBe('read');
    expect(await attributes(page, '[data-testid="fleet-row"]', 'data-node-id')).toEqual(['node-a', 'node-b']);
    // Several refreshes later, still nothing that writes: no button, no Admin column, no cell.
    await waitForPage(page, `Number(document.querySelector('[data-testid="board"]').dataset.refreshes) >= 2`);
    expect(
      await page.locator('[data-action], [data-testid="drain-button"], [data-testid="resume-button"]').count(),
    ).toBe(0);
    expect(await page.locator('[data-field="actions"]').count()).toBe(0);
    expect(await page.locator('[data-write]:visible').count()).toBe(0);
    expect(await page.locator('main button:visible').count()).toBe(0);
    expect(writes).toEqual([]);
    expect(problems).toEqual([]);
  });

  it('admin: the header says so, and each node has a Drain button that drains it and then offers Resume', async () => {
    await signIn(page, ADMIN_TOKEN);
    expect(await page.getByTestId('role').textContent()).toBe('admin');
    expect(await page.locator('thead [data-write]').isVisible()).toBe(true);
    expect(await attributes(page, '[data-testid="drain-button"]', 'data-node-id')).toEqual(['node-a', 'node-b']);

    await page.locator('[data-testid="drain-button"][data-node-id="node-b"]').click();
    await page.locator('[data-testid="resume-button"][data-node-id="node-b"]').waitFor();
    expect(await client.get(keys.nodeControl('node-b'))).toBe('{"drained":true}');
    await page.locator('[data-testid="resume-button"][data-node-id="node-b"]').click();
    await page.locator('[data-testid="drain-button"][data-node-id="node-b"]').waitFor();
    expect(await client.exists(keys.nodeControl('node-b'))).toBe(0);
    expect(writes.map((w) => w.replace(baseUrl, ''))).toEqual([
      'POST /admin/nodes/node-b/drain',
      'POST /admin/nodes/node-b/resume',
    ]);

    // Signing out and in again as read-only takes the controls away at once.
    await page.getByTestId('signout').click();
    await page.getByTestId('token-input').fill(READ_TOKEN);
    await page.getByTestId('signin-button').click();
    await page.locator('[data-testid="fleet-row"]').nth(1).waitFor();
    expect(await page.getByTestId('role').textContent()).toBe('read-only');
    expect(await page.locator('[data-action]').count()).toBe(0);
    expect(await page.locator('thead [data-write]').isVisible()).toBe(false);
    expect(problems).toEqual([]);
  });
});
