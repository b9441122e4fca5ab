// Keys end to end on a real Redis: created through the admin API, used on two gateway instances (two
// authenticators, two HTTP servers), edited and revoked, with every instance following within 5 s.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Router } from 'express';
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  newRequestId,
  writeErrorResponse,
  type Logger,
  type SharedStore,
} from '@switchyard/shared';
import { scanKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createAdminRouter } from '../admin/index.js';
import { generateGatewayKey } from './gateway-key.js';
import { createKeyAuthenticator, type KeyAuthenticator } from './key-authenticator.js';
import { createKeyRepository, type KeySettings } from './key-repository.js';
import { presentedKey } from './presented-key.js';

const ADMIN_TOKEN = `admin-${'x'.repeat(40)}`;
const SETTINGS: KeySettings = {
  name: 'timing',
  enabled: true,
  expiresAt: null,
  allowedModels: null,
  allowedBetas: null,
  rpm: null,
  concurrency: null,
  dailyTokenBudget: null,
};

function recordingLogger(lines: string[]): Logger {
  const write = (level: string) => (message: string, meta?: Record<string, unknown>) =>
    void lines.push(JSON.stringify({ level, message, meta }));
  const log: Logger = {
    error: write('error'),
    warn: write('warn'),
    info: write('info'),
    debug: write('debug'),
    child: () => log,
  };
  return log;
}

interface Gateway {
  url: string;
  auth: KeyAuthenticator;
  server: http.Server;
}

// The lead's wiring in miniature: admin router at /admin, then the authenticator answering in the envelope.
async function startGateway(auth: KeyAuthenticator, admin?: Router): Promise<Gateway> {
  const app = express();
  app.use((_req, res, next) => {
    res.locals.requestId = newRequestId();
    next();
  });
  if (admin) app.use('/admin', admin);
  app.use(async function authenticate(req, res) {
    const result = await auth.authenticate(presentedKey(req.headers));
    if (!result.ok) {
      writeErrorResponse(res, result.error, res.locals.requestId as string);
      return;
    }
    res.json({ keyId: result.key.id, rpm: result.key.rpm });
  });
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, auth, server };
}

async function call(
  gw: Gateway,
  key: string,
  how: 'x-api-key' | 'bearer' = 'x-api-key',
): Promise<{ status: number; body: Record<string, unknown> }> {
  const headers: Record<string, string> =
    how === 'x-api-key' ? { 'x-api-key': key } : { authorization: `Bearer ${key}` };
  const res = await fetch(`${gw.url}/v1/messages`, { method: 'POST', headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function admin(
  gw: Gateway,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${gw.url}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

// Calls every 50 ms (steady traffic) until `done` holds; resolves to the milliseconds it took.
async function msUntil(probe: () => Promise<boolean>, limitMs = 8000): Promise<number> {
  const started = performance.now();
  while (performance.now() - started < limitMs) {
    if (await probe()) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`condition not met within ${limitMs} ms`);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? NaN;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? NaN;
}

describe('gateway keys on Redis, two gateway instances', () => {
  const prefix = uniquePrefix('keys');
  const keys = createKeyspace(prefix);
  const lines: string[] = [];
  const log = recordingLogger(lines);
  let client: Redis;
  let store: SharedStore;
  let a: Gateway;
  let b: Gateway;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    const registry = { nodes: () => [] };
    a = await startGateway(
      createKeyAuthenticator({ store, keys, log }),
      createAdminRouter({ store, keys, adminToken: ADMIN_TOKEN, registry, log }),
    );
    b = await startGateway(createKeyAuthenticator({ store, keys, log }));
  });

  afterAll(async () => {
    for (const gw of [a, b]) {
      gw.auth.stop();
      gw.server.closeAllConnections();
      await new Promise((r) => gw.server.close(r));
    }
    const left = await scanKeys(client, prefix);
    if (left.length > 0) await client.del(...left);
    await store.close();
    await client.quit();
    // For the report: how long changes took to show on the second instance, under steady traffic.
    console.log(`key change propagation (ms): ${JSON.stringify(timings)}`);
  });

  async function createKey(body: Record<string, unknown> = { name: 'alice' }): Promise<{ key: string; id: string }> {
    const res = await admin(a, 'POST', '/keys', body);
    expect(res.status).toBe(201);
    return { key: res.body.key as string, id: (res.body.record as { id: string }).id };
  }

  it('accepts a created key as x-api-key and as Bearer on both instances', async () => {
    const { key, id } = await createKey();
    for (const gw of [a, b]) {
      for (const how of ['x-api-key', 'bearer'] as const) {
        expect(await call(gw, key, how)).toEqual({ status: 200, body: { keyId: id, rpm: null } });
      }
    }
  });

  it('answers missing, malformed and unknown keys with the 401 envelope', async () => {
    const res = await fetch(`${b.url}/v1/messages`, { method: 'POST' });
    expect(res.status).toBe(401);
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    for (const bad of ['nope', 'sy-short', generateGatewayKey()]) {
      const r = await call(b, bad);
      expect(r.status).toBe(401);
      expect(r.body).toMatchObject({
        type: 'error',
        error: { type: 'authentication_error', message: 'Invalid API key' },
      });
    }
  });

  it('stops a revoked key on the other instance within 5 s', async () => {
    const { key, id } = await createKey();
    expect((await call(b, key)).status).toBe(200);
    expect((await admin(a, 'DELETE', `/keys/${id}`)).status).toBe(200);
    timings.revokeOnB = await msUntil(async () => (await call(b, key)).status === 401);
    timings.revokeOnA = await msUntil(async () => (await call(a, key)).status === 401);
    expect(timings.revokeOnB).toBeLessThan(5000);
    for (let i = 0; i < 5; i += 1) expect((await call(b, key)).status).toBe(401);
  });

  it('applies edits (disable, enable, limits) on the other instance within 5 s', async () => {
    const { key, id } = await createKey({ name: 'bob', rpm: 10 });
    expect(await call(b, key)).toMatchObject({ status: 200, body: { rpm: 10 } });
    expect((await admin(a, 'PATCH', `/keys/${id}`, { enabled: false })).status).toBe(200);
    timings.disableOnB = await msUntil(async () => (await call(b, key)).status === 401);
    expect((await admin(a, 'PATCH', `/keys/${id}`, { enabled: true, rpm: 42 })).status).toBe(200);
    timings.enableOnB = await msUntil(async () => (await call(b, key)).body.rpm === 42);
    expect(timings.disableOnB).toBeLessThan(5000);
    expect(timings.enableOnB).toBeLessThan(5000);
  });

  it('refuses expired keys with 401', async () => {
    const past = await createKey({ name: 'old', expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect((await call(b, past.key)).status).toBe(401);
    const soon = await createKey({ name: 'soon', expiresAt: Date.now() + 1500 });
    expect((await call(b, soon.key)).status).toBe(200);
    const ms = await msUntil(async () => (await call(b, soon.key)).status === 401);
    expect(ms).toBeGreaterThan(200);
  });

  it('keeps only digests in Redis: no key appears in any key name, value or log line', async () => {
    const created = [
      await createKey({ name: 'scan-1' }),
      await createKey({ name: 'scan-2', allowedModels: ['claude-sonnet-4-5'] }),
    ];
    for (const { key } of created) expect((await call(b, key)).status).toBe(200);
    const names = await scanKeys(client, prefix);
    const dump: string[] = [...names];
    for (const name of names) {
      const type = await client.type(name);
      if (type === 'string') dump.push((await client.get(name)) ?? '');
      else if (type === 'set') dump.push(...(await client.smembers(name)));
      else if (type === 'hash') dump.push(JSON.stringify(await client.hgetall(name)));
    }
    const everything = dump.join('\n');
    expect(everything).toContain('scan-2'); // the dump really holds the records
    for (const { key, id } of created) {
      const record = JSON.parse((await client.get(keys.keyById(id))) ?? 'null') as { digest: string };
      expect(names).toContain(keys.keyByDigest(record.digest));
      expect(everything).not.toContain(key);
      expect(everything).not.toContain(key.slice(3, 30));
      expect(lines.join('\n')).not.toContain(key.slice(3, 30));
    }
  });

  it('takes the same time for unknown, revoked and wrong-checksum keys', async () => {
    const n = 300;
    const repo = createKeyRepository({ store, keys });
    const revoked: string[] = [];
    for (let i = 0; i < n; i += 1) {
      const { key, record } = await repo.create(SETTINGS);
      await repo.revoke(record.id);
      revoked.push(key);
    }
    const live = await repo.create(SETTINGS);
    const repeatedUnknown = generateGatewayKey();
    const groups: Record<string, (i: number) => string> = {
      unknownFresh: () => generateGatewayKey(),
      unknownRepeated: () => repeatedUnknown,
      revokedFresh: (i) => revoked[i]!,
      wrongChecksum: () => {
        const k = generateGatewayKey();
        return k.slice(0, -1) + (k.endsWith('a') ? 'b' : 'a');
      },
      valid: () => live.key,
    };
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(groups).map((g) => [g, []]));
    const bodies: Record<string, Set<string>> = Object.fromEntries(
      Object.keys(groups).map((g) => [g, new Set<string>()]),
    );
    for (let i = 0; i < n; i += 1) {
      for (const [group, keyFor] of Object.entries(groups)) {
        const key = keyFor(i);
        const started = performance.now();
        const res = await fetch(`${b.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': key } });
        const body = (await res.json()) as { error?: unknown };
        samples[group]!.push(performance.now() - started);
        bodies[group]!.add(`${res.status} ${JSON.stringify(body.error ?? 'ok')}`);
      }
    }
    const medians = Object.fromEntries(Object.entries(samples).map(([g, xs]) => [g, Number(median(xs).toFixed(3))]));
    const p90 = Object.fromEntries(
      Object.entries(samples).map(([g, xs]) => [g, Number(percentile(xs, 0.9).toFixed(3))]),
    );
    console.log(
      `auth timing over HTTP, ${n} calls each: median ms ${JSON.stringify(medians)}, p90 ms ${JSON.stringify(p90)}`,
    );
    const refused = ['unknownFresh', 'unknownRepeated', 'revokedFresh', 'wrongChecksum'];
    const oneAnswer = new Set(refused.flatMap((g) => [...bodies[g]!]));
    expect([...oneAnswer]).toEqual(['401 {"type":"authentication_error","message":"Invalid API key"}']);
    for (const g of Object.keys(groups)) expect(medians[g]).toBeLessThan(50);
    expect(Math.abs(medians.unknownFresh! - medians.revokedFresh!)).toBeLessThan(5);
    expect(Math.abs(medians.unknownRepeated! - medians.wrongChecksum!)).toBeLessThan(5);
  });
});
