// `switchyard usage` against the gateway's real admin router on a real Redis (in this process), with usage hashes
// written the way the usage worker writes them: the cost, cache-read share and savings it prints are the API's
// numbers, rows with an unpriced model are marked, and the recent list shows each request's cost.
import type { AddressInfo } from 'node:net';
import { createServer, type Server } from 'node:http';
import { randomBytes } from 'node:crypto';
import express from 'express';
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  utcDay,
  type SharedStore,
} from '@switchyard/shared';
import { deleteKeys, testRedisUrl, uniquePrefix, writeCountedUsage, type CountedUsage } from '@switchyard/testkit';
import { createAdminRouter, type UsageRow, type UsageTotals } from '../../gateway/src/admin/index.js';
import { runCli } from './run.js';

const ADMIN_TOKEN = randomBytes(32).toString('hex');
const NOW = Date.parse('2027-03-10T12:00:00Z');
const TODAY = utcDay(NOW);
const YESTERDAY = utcDay(NOW - 86_400_000);

const prefix = uniquePrefix('cli-usage');
const keys = createKeyspace(prefix);
let client: Redis;
let store: SharedStore;
let server: Server;
let url = '';

const COUNTED: CountedUsage[] = [
  {
    day: TODAY,
    keyId: 'key_alpha',
    nodeId: 'node-a',
    model: 'claude-sonnet-4-5',
    counters: {
      requests: 2,
      inputTokens: 100,
      cacheCreationInputTokens: 10,
      cacheReadInputTokens: 1000,
      outputTokens: 50,
      costMicros: 1_234_567,
      apiEquivalentMicros: 1_234_567,
      cacheSavingsMicros: 2_700,
      durationMs: 900,
    },
    priceVersion: 'genai-prices@0.1.8',
  },
  {
    day: YESTERDAY,
    keyId: 'key_alpha',
    nodeId: 'node-b',
    model: 'claude-sonnet-4-5',
    counters: {
      requests: 1,
      inputTokens: 40,
      outputTokens: 5,
      costMicros: 200_000,
      cacheMisses: 1,
      stickyMoves: 1,
      chatCompletionRequests: 1,
      durationMs: 300,
    },
    priceVersion: 'genai-prices@0.1.8',
  },
  {
    day: TODAY,
    keyId: 'key_beta',
    nodeId: 'node-b',
    model: 'private-model',
    counters: {
      requests: 1,
      inputTokens: 30,
      outputTokens: 3,
      unpricedRequests: 1,
      cacheSavingsMicros: -1_250,
      durationMs: 200,
    },
  },
];

async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(args, {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { url, token: ADMIN_TOKEN, tokenVar: 'SWITCHYARD_ADMIN_TOKEN' },
    nowMs: NOW,
  });
  return { code, out, err };
}

async function api(by: string): Promise<{ rows: UsageRow[]; totals: UsageTotals }> {
  const res = await fetch(`${url}/admin/usage?by=${by}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as { rows: UsageRow[]; totals: UsageTotals };
}

/**
 * The figures of the row whose first cell is `id`, by header. Figure columns are right-aligned, so each one ends
 * where its header ends: a cell is what lies between the previous header's end and its own.
 */
function cellsOf(out: string[], id: string): Record<string, string> {
  const headerAt = out.findIndex((l) => l.includes('REQUESTS'));
  const header = out[headerAt] ?? '';
  const line = out.slice(headerAt + 1).find((l) => l.startsWith(`${id} `)) ?? '';
  expect(line).not.toBe('');
  const headers = [...header.matchAll(/\S+(?: \S+)*/g)].map((m) => ({ name: m[0], end: m.index + m[0].length }));
  return Object.fromEntries(
    headers.map(({ name, end }, i) => [
      name,
      line
        .slice(headers[i - 1]?.end ?? 0, end)
        .trimEnd()
        .split(/\s{2,}/)
        .at(-1)
        ?.trim() ?? '',
    ]),
  );
}

const dollars = (cell: string): number => Number(cell.replace(/[$,*\s]/g, ''));
const share = (cell: string): number | null => (cell === '-' ? null : Number(cell.replace('%', '')) / 100);

beforeAll(async () => {
  client = createIoRedisClient(testRedisUrl());
  store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
  const app = express().use(
    '/admin',
    createAdminRouter({
      store,
      keys,
      adminToken: ADMIN_TOKEN,
      registry: { nodes: () => [] },
      log: createNullLogger(),
      now: () => NOW,
    }),
  );
  server = createServer(app);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  for (const c of COUNTED) await writeCountedUsage(client, keys, c);
  await client.lpush(
    keys.recent(),
    JSON.stringify({
      requestId: 'req_priced',
      at: NOW - 5_000,
      keyId: 'key_alpha',
      nodeId: 'node-a',
      model: 'claude-sonnet-4-5',
      stream: false,
      status: 200,
      aborted: false,
      stopReason: 'end_turn',
      inputTokens: 100,
      outputTokens: 50,
      cacheCreationInputTokens: 10,
      cacheReadInputTokens: 1000,
      estimatedInputTokens: 1100,
      estimatedOutputTokens: 50,
      estimateApproximate: false,
      durationMs: 450,
      ttfbMs: 120,
      costMicros: 617_283,
      priced: true,
      cacheSavingsMicros: 1_350,
    }),
    JSON.stringify({
      requestId: 'req_unpriced',
      at: NOW - 1_000,
      keyId: 'key_beta',
      nodeId: 'node-b',
      model: 'private-model',
      stream: true,
      status: 200,
      aborted: false,
      stopReason: 'end_turn',
      inputTokens: 30,
      outputTokens: 3,
      cacheCreationInputTokens: 0,
      cacheReadInputTokens: 0,
      estimatedInputTokens: 30,
      estimatedOutputTokens: 3,
      estimateApproximate: false,
      durationMs: 200,
      ttfbMs: 80,
      costMicros: 0,
      priced: false,
      cacheSavingsMicros: 0,
    }),
  );
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await deleteKeys(client, prefix);
  await store.close();
  await client.quit();
});

describe('switchyard usage', () => {
  it.each(['key', 'node', 'model', 'day'])(
    '--by %s: each row shows the cost, read share, savings, misses and moves the API answers',
    async (by) => {
      const run = await cli(['usage', '--by', by]);
      expect(run).toMatchObject({ code: 0, err: [] });
      const report = await api(by);
      const rows = by === 'day' ? report.rows.filter((r) => r.requests > 0) : report.rows;
      expect(rows.length).toBeGreaterThan(1);
      for (const row of [...rows, { ...report.totals, id: 'TOTAL' }]) {
        const cells = cellsOf(run.out, row.id);
        expect([row.id, dollars(cells.COST ?? ''), dollars(cells.SAVED ?? '')]).toEqual([
          row.id,
          row.costUsd,
          row.cacheSavingsUsd,
        ]);
        // The share is printed to a tenth of a percent.
        const printed = share(cells['READ SHARE'] ?? '');
        if (row.cacheReadShare === null) expect([row.id, printed]).toEqual([row.id, null]);
        else expect(printed).toBeCloseTo(row.cacheReadShare, 3);
        expect([row.id, Number(cells.MISSES), Number(cells.MOVES)]).toEqual([row.id, row.cacheMisses, row.stickyMoves]);
        expect([row.id, Number(cells.OPENAI)]).toEqual([row.id, row.requestsByRoute.chat_completions]);
        // A row holding a request of a model with no price is marked, and only such a row.
        expect([row.id, (cells.COST ?? '').endsWith('*')]).toEqual([row.id, row.unpricedRequests > 0]);
        if (by === 'node') expect([row.id, dollars(cells['API VALUE'] ?? '')]).toEqual([row.id, row.apiEquivalentUsd]);
      }
      expect(run.out).toContain('* 1 request of a model with no price, counted at $0 (add its price in PRICES_FILE).');
      expect(run.out).toContain('Priced with genai-prices@0.1.8.');
      expect(run.out).toContain('Subscription accounts served $1.234567 of this at API prices.');
    },
  );

  it("--by key: exact dollars, the unpriced key marked, each key's month under the table", async () => {
    const run = await cli(['usage', '--by', 'key']);
    expect(cellsOf(run.out, 'key_alpha')).toMatchObject({
      COST: '$1.434567',
      'READ SHARE': '87.0%',
      SAVED: '$0.0027',
      MISSES: '1',
      MOVES: '1',
      OPENAI: '1',
    });
    expect(cellsOf(run.out, 'key_beta')).toMatchObject({ COST: '$0.00 *', 'READ SHARE': '0.0%', SAVED: '-$0.00125' });
    expect(run.out).toContain('This month (2027-03): key_alpha $1.434567, key_beta $0.00.');
    expect(run.out.at(-1)).toBe('All time: 4 requests, 1,180 tokens sent, 58 received, $1.434567.');
  });

  it('usage recent: each request\'s cost, and "unpriced" for a model with no price', async () => {
    const run = await cli(['usage', 'recent']);
    expect(run.code).toBe(0);
    expect(run.out[0]).toMatch(/\bCOST\b/);
    expect(run.out.find((l) => l.includes('key_alpha'))).toMatch(/\s\$0\.617283\s/);
    expect(run.out.find((l) => l.includes('key_beta'))).toMatch(/\sunpriced\s/);
  });
});
