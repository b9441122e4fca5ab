// Cost per request end to end: gateway → 2 node-agents → fake upstream, counted by a usage worker process with a
// PRICES_FILE, against a real Redis. Each request's cost must equal genai-prices' own figure for the usage the fake
// reported to the client (calcPrice here, on the response's usage through the library's Anthropic extractor), for
// input, output, 5-minute and 1-hour cache writes, cache reads and a long context past the 200k tier; summed exactly
// per key, model, node, day and the key's month. A model nobody prices is flagged, not priced at a guess; a model
// only the PRICES_FILE knows is priced by it.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { calcPrice, extractUsage, findProvider, type Provider, type Usage } from '@pydantic/genai-prices';
import { Redis } from 'ioredis';
import { createKeyspace, RecentRequestSchema, utcDay, utcMonth, type RecentRequest } from '@switchyard/shared';
import { freePort, testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(240_000);

const SONNET = 'claude-sonnet-4-5';
const HAIKU = 'claude-haiku-4-5';
const UNKNOWN = 'claude-unreleased-x9';
const PRIVATE = 'claude-acme-private-1';
const NO_PRICE = 'usage model has no price: counted at zero cost';
// The PRICES_FILE fixture: the only rates in this file that are ours.
const FILE_MODEL = {
  id: PRIVATE,
  match: { equals: PRIVATE },
  prices: { input_mtok: 7, output_mtok: 21, cache_write_mtok: 9, cache_read_mtok: 0.7 },
};

const anthropic = findProvider({ providerId: 'anthropic' }) as Provider;
const withFile: Provider = { ...anthropic, models: [FILE_MODEL, ...anthropic.models] };
const installed = (
  JSON.parse(readFileSync(join(__dirname, '../../node_modules/@pydantic/genai-prices/package.json'), 'utf8')) as {
    version: string;
  }
).version;

let chain: Stack;
let redis: Redis;
let dir: string;
let pricesFile: string;
let metricsPort: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sy-cost-'));
  pricesFile = join(dir, 'prices.json');
  writeFileSync(pricesFile, JSON.stringify({ models: [FILE_MODEL] }));
  metricsPort = await freePort();
  chain = await startStack({
    redisUrl: testRedisUrl(),
    nodeIds: ['node-a', 'node-b'],
    gatewayEnv: { PRICES_FILE: pricesFile },
    worker: { PRICES_FILE: pricesFile, METRICS_PORT: String(metricsPort), HOST: '127.0.0.1' },
  });
  await chain.waitReady();
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  await chain?.stop();
  redis?.disconnect();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Sent {
  keyId: string;
  model: string;
  /** The response body's `usage` and `model`, as the fake reported them to the client. */
  body: { model: string; usage: Record<string, unknown> };
}

const filler = (label: string, bytes: number) =>
  `${label} ${'freight yard shunting '.repeat(Math.ceil(bytes / 22))}`.slice(0, bytes);

function system(text: string, ttl?: '5m' | '1h'): unknown[] {
  return [
    {
      type: 'text',
      text,
      ...(ttl === undefined
        ? {}
        : { cache_control: ttl === '1h' ? { type: 'ephemeral', ttl: '1h' } : { type: 'ephemeral' } }),
    },
  ];
}

async function allTimeRequests(): Promise<number> {
  return Number((await redis.hget(createKeyspace(chain.prefix).usageAllTime(), 'requests')) ?? 0);
}

/** Sends one request and waits until the worker has counted it, so the recent list's order is the send order. */
async function send(key: { key: string; id: string }, session: string, body: Record<string, unknown>): Promise<Sent> {
  const before = await allTimeRequests();
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: {
      'x-api-key': key.key,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'x-claude-code-session-id': session,
    },
    body: JSON.stringify({ max_tokens: 256, ...body }),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`request answered ${res.status}: ${text}`);
  await waitFor('the request counted', async () => (await allTimeRequests()) >= before + 1, {
    timeoutMs: 60_000,
    intervalMs: 100,
    detail: () => chain.worker?.output() ?? '',
  });
  return { keyId: key.id, model: body.model as string, body: JSON.parse(text) as Sent['body'] };
}

/** genai-prices' figure for what the fake reported, in micro-dollars; null when no price is known. */
function library(sent: Sent, at: number): { cost: number; plain: number; usage: Usage } | null {
  const usage = extractUsage(withFile, sent.body).usage;
  const price = (u: Usage) => calcPrice(u, sent.model, { provider: withFile, timestamp: new Date(at) });
  const actual = price(usage);
  if (actual === null) return null;
  const plain = price({ input_tokens: usage.input_tokens, output_tokens: usage.output_tokens }) as NonNullable<
    typeof actual
  >;
  return { cost: Math.round(actual.total_price * 1e6), plain: Math.round(plain.total_price * 1e6), usage };
}

async function hash(key: string): Promise<Record<string, number>> {
  return Object.fromEntries(Object.entries(await redis.hgetall(key)).map(([k, v]) => [k, Number(v)]));
}

function add(sums: Map<string, number>, key: string, value: number): void {
  sums.set(key, (sums.get(key) ?? 0) + value);
}

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
  return res.text();
}

function sample(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const m = /\{(.*)\} (\S+)$/.exec(line);
    const found: Record<string, string> = {};
    for (const [, k, v] of (m?.[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)) found[k as string] = v as string;
    if (Object.entries(labels).every(([k, v]) => found[k] === v)) sum += Number(m?.[2]);
  }
  return sum;
}

it('prices every request as genai-prices does, sums it exactly per key, model, node, day and month, flags the unknown model and applies PRICES_FILE', async () => {
  const a = await chain.createKey();
  const b = await chain.createKey();
  const cached5m = filler(`A ${randomBytes(4).toString('hex')}`, 8_000);
  const cached1h = filler(`B ${randomBytes(4).toString('hex')}`, 12_000);
  const cachedB = filler(`C ${randomBytes(4).toString('hex')}`, 6_000);
  const ask = (q: string) => [{ role: 'user', content: q }];

  const sent: Sent[] = [];
  // Key A, one conversation: a 5-minute write then a read, a 1-hour write then a read.
  sent.push(
    await send(a, 'sess-a', { model: SONNET, system: system(cached5m, '5m'), messages: ask('first question') }),
  );
  sent.push(
    await send(a, 'sess-a', { model: SONNET, system: system(cached5m, '5m'), messages: ask('second question') }),
  );
  sent.push(
    await send(a, 'sess-a', { model: SONNET, system: system(cached1h, '1h'), messages: ask('third question') }),
  );
  sent.push(
    await send(a, 'sess-a', { model: SONNET, system: system(cached1h, '1h'), messages: ask('fourth question') }),
  );
  // Key B: plain input and output, a write and a read on another model, then a long context past the 200k tier.
  sent.push(await send(b, 'sess-b', { model: HAIKU, messages: ask('no cache here') }));
  sent.push(await send(b, 'sess-b', { model: HAIKU, system: system(cachedB, '5m'), messages: ask('cache this') }));
  sent.push(await send(b, 'sess-b', { model: HAIKU, system: system(cachedB, '5m'), messages: ask('read it back') }));
  sent.push(await send(b, 'sess-b2', { model: SONNET, messages: ask(filler('long', 880_000)) }));
  // A model nobody prices (twice), and one only the PRICES_FILE knows.
  sent.push(await send(a, 'sess-a2', { model: UNKNOWN, messages: ask('who prices me?') }));
  sent.push(await send(a, 'sess-a2', { model: UNKNOWN, messages: ask('still nobody?') }));
  sent.push(
    await send(b, 'sess-b3', { model: PRIVATE, system: system(cachedB, '5m'), messages: ask('the file does') }),
  );

  const keys = createKeyspace(chain.prefix);
  const recent: RecentRequest[] = (await redis.lrange(keys.recent(), 0, sent.length - 1))
    .map((raw) => RecentRequestSchema.parse(JSON.parse(raw)))
    .reverse();
  expect(recent.map((r) => r.model)).toEqual(sent.map((s) => s.model));

  // What the usage covered: each kind of token, and the tier.
  const usages = sent.map((s) => extractUsage(withFile, s.body).usage);
  expect(usages.some((u) => (u.cache_write_5m_tokens ?? 0) > 0)).toBe(true);
  expect(usages.some((u) => (u.cache_write_1h_tokens ?? 0) > 0)).toBe(true);
  expect(usages.filter((u) => (u.cache_read_tokens ?? 0) > 0).length).toBeGreaterThanOrEqual(3);
  expect(usages[4]).toMatchObject({ cache_read_tokens: 0, cache_write_tokens: 0 });
  expect(usages[7]?.input_tokens).toBeGreaterThan(200_000);

  const byKey = new Map<string, number>();
  const byModel = new Map<string, number>();
  const byNode = new Map<string, number>();
  const byDay = new Map<string, number>();
  const byMonth = new Map<string, number>();
  const savedByKey = new Map<string, number>();
  sent.forEach((s, i) => {
    const entry = recent[i] as RecentRequest;
    const figure = library(s, entry.at);
    const day = utcDay(entry.at);
    if (s.model === UNKNOWN) {
      expect(figure).toBeNull();
      expect({ i, priced: entry.priced, costMicros: entry.costMicros }).toEqual({ i, priced: false, costMicros: 0 });
      return;
    }
    expect(figure).not.toBeNull();
    const { cost, plain } = figure as NonNullable<typeof figure>;
    expect({
      i,
      model: s.model,
      costMicros: entry.costMicros,
      priced: entry.priced,
      saved: entry.cacheSavingsMicros,
    }).toEqual({ i, model: s.model, costMicros: cost, priced: true, saved: plain - cost });
    expect(cost).toBeGreaterThan(0);
    add(byKey, `${s.keyId}:${day}`, cost);
    add(byModel, `${s.model}:${day}`, cost);
    add(byNode, `${entry.nodeId}:${day}`, cost);
    add(byDay, day, cost);
    add(byMonth, `${s.keyId}:${utcMonth(entry.at)}`, cost);
    add(savedByKey, `${s.keyId}:${day}`, plain - cost);
  });
  // Past the tier every token of the long context is dearer: it cost far more than the same usage cut to 200k input.
  const long = library(sent[7] as Sent, (recent[7] as RecentRequest).at) as NonNullable<ReturnType<typeof library>>;
  const atTier = calcPrice({ ...long.usage, input_tokens: 200_000 }, SONNET, { provider: withFile })
    ?.total_price as number;
  expect(long.cost).toBeGreaterThan(1.5 * Math.round(atTier * 1e6));

  // Summed exactly, as integers, in every hash; OAuth accounts answered, so all of it is API-equivalent value.
  for (const [k, v] of byKey) {
    const [keyId, day] = k.split(':') as [string, string];
    const h = await hash(keys.usage('key', keyId, day));
    expect({
      k,
      costMicros: h.costMicros,
      apiEquivalentMicros: h.apiEquivalentMicros,
      cacheSavingsMicros: h.cacheSavingsMicros,
    }).toEqual({ k, costMicros: v, apiEquivalentMicros: v, cacheSavingsMicros: savedByKey.get(k) });
  }
  for (const [k, v] of byModel) {
    const [model, day] = k.split(':') as [string, string];
    expect({ k, costMicros: (await hash(keys.usage('model', model, day))).costMicros }).toEqual({ k, costMicros: v });
  }
  for (const [k, v] of byNode) {
    const [nodeId, day] = k.split(':') as [string, string];
    expect({ k, costMicros: (await hash(keys.usage('node', nodeId, day))).costMicros }).toEqual({ k, costMicros: v });
  }
  for (const [day, v] of byDay)
    expect({ day, costMicros: (await hash(keys.usage('global', 'all', day))).costMicros }).toEqual({
      day,
      costMicros: v,
    });
  for (const [k, v] of byMonth) {
    const [keyId, month] = k.split(':') as [string, string];
    expect({ k, costMicros: (await hash(keys.usageMonth(keyId, month))).costMicros }).toEqual({ k, costMicros: v });
  }
  expect([...byNode.keys()].every((k) => k.startsWith('node-'))).toBe(true);

  // The price data's version, with the file's hash, is recorded with the day's totals.
  const sha = createHash('sha256').update(readFileSync(pricesFile)).digest('hex').slice(0, 12);
  for (const day of byDay.keys())
    expect(await redis.smembers(keys.usagePriceVersions(day))).toEqual([
      `genai-prices@${installed}+prices-file:${sha}`,
    ]);

  // The unknown model: flagged in its rows, at zero cost, in the metric, and logged once.
  const unknownDay = utcDay((recent[8] as RecentRequest).at);
  const unknownRow = await hash(keys.usage('model', UNKNOWN, unknownDay));
  expect({
    requests: unknownRow.requests,
    unpricedRequests: unknownRow.unpricedRequests,
    costMicros: unknownRow.costMicros,
  }).toEqual({ requests: 2, unpricedRequests: 2, costMicros: undefined });
  expect((await hash(keys.usage('key', a.id, unknownDay))).unpricedRequests).toBe(2);
  const metrics = await scrape();
  expect(sample(metrics, 'switchyard_usage_unpriced_requests_total', { model: UNKNOWN })).toBe(2);
  expect(sample(metrics, 'switchyard_cost_usd_total', { model: UNKNOWN })).toBe(0);
  const output = chain.worker?.output() ?? '';
  expect(output.split('\n').filter((l) => l.includes(NO_PRICE))).toHaveLength(1);
  expect(output).toContain(`"priceVersion":"genai-prices@${installed}+prices-file:${sha}"`);

  // The dollars metric agrees with the integers, per key.
  for (const key of [a, b]) {
    const micros = [...byKey].filter(([k]) => k.startsWith(`${key.id}:`)).reduce((sum, [, v]) => sum + v, 0);
    expect(sample(metrics, 'switchyard_cost_usd_total', { key: key.id })).toBeCloseTo(micros / 1e6, 9);
  }
  // The PRICES_FILE model was priced by the file: genai-prices alone has no price for it.
  expect(calcPrice({ input_tokens: 1, output_tokens: 1 }, PRIVATE, { provider: anthropic })).toBeNull();
  expect((recent[10] as RecentRequest).costMicros).toBeGreaterThan(0);
});
