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
  type SharedStore,
} from '@switchyard/shared';
import { recordingLog, scanKeys, testRedisUrl, uniquePrefix, type LogLine } from '@switchyard/testkit';
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

/** The authenticator's default: how long an answer is trusted without Redis agreeing. */
const CACHE_TTL_MS = 3_000;

describe('gateway keys on Redis, two gateway instances', () => {
  const prefix = uniquePrefix('keys');
  const keys = createKeyspace(prefix);
  const lines: LogLine[] = [];
  const log = recordingLog(lines);
  let client: Redis;
  let store: SharedStore;
  let a: Gateway;
  let b: Gateway;
  // b's clock runs with the real one, plus what the tests move it on by (later()), so a cache age is reached
  // exactly rather than waited for.
  let skewMs = 0;
  const bNow = () => Date.now() + skewMs;
  const later = (ms: number) => void (skewMs += ms);

  beforeAll(async () => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    const registry = { nodes: () => [] };
    a = await startGateway(
      createKeyAuthenticator({ store, keys, log }),
      createAdminRouter({ store, keys, adminToken: ADMIN_TOKEN, registry, log }),
    );
    b = await startGateway(createKeyAuthenticator({ store, keys, log, now: bNow }));
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

  it('stops a revoked key on the other instance once its cached answer is as old as the TTL (3 s)', async () => {
    const { key, id } = await createKey();
    expect((await call(b, key)).status).toBe(200);
    expect((await admin(a, 'DELETE', `/keys/${id}`)).status).toBe(200);
    expect((await call(a, key)).status).toBe(401);
    later(CACHE_TTL_MS);
    for (let i = 0; i < 5; i += 1) expect((await call(b, key)).status).toBe(401);
  });

  it('applies edits (disable, enable, limits) on the other instance within the TTL', async () => {
    const { key, id } = await createKey({ name: 'bob', rpm: 10 });
    expect(await call(b, key)).toMatchObject({ status: 200, body: { rpm: 10 } });
    expect((await admin(a, 'PATCH', `/keys/${id}`, { enabled: false })).status).toBe(200);
    later(CACHE_TTL_MS);
    expect((await call(b, key)).status).toBe(401);
    expect((await admin(a, 'PATCH', `/keys/${id}`, { enabled: true, rpm: 42 })).status).toBe(200);
    later(CACHE_TTL_MS);
    expect(await call(b, key)).toMatchObject({ status: 200, body: { rpm: 42 } });
  });

  it('refuses expired keys with 401 once they expire', async () => {
    const past = await createKey({ name: 'old', expiresAt: new Date(Date.now() - 1000).toISOString() });
    expect((await call(b, past.key)).status).toBe(401);
    // Minutes apart on b's clock, so the real time a loaded machine takes between two calls cannot matter.
    const soon = await createKey({ name: 'soon', expiresAt: bNow() + 10 * 60_000 });
    expect((await call(b, soon.key)).status).toBe(200);
    later(5 * 60_000);
    expect((await call(b, soon.key)).status).toBe(200);
    later(5 * 60_000);
    expect((await call(b, soon.key)).status).toBe(401);
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
      expect(JSON.stringify(lines)).not.toContain(key.slice(3, 30));
    }
  });

  // Timing requests over HTTP cannot show a difference of one cache lookup under milliseconds of noise, so this
  // counts what makes unknown and revoked keys cost the same: one Redis GET for a digest not seen before (whether
  // a key was ever issued for it or not), none for one seen (a cached answer either way), none for a key failing
  // its checksum. b's twin here has a clock that stands still, so no cached answer ages while the test runs.
  it('treats unknown, revoked and wrong-checksum keys alike: the same 401, and the same Redis work for unknown and revoked', async () => {
    const n = 30;
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
    let gets = 0;
    const counted = {
      get: (name: string) => {
        gets += 1;
        return store.get(name);
      },
    };
    const frozen = Date.now();
    const c = await startGateway(createKeyAuthenticator({ store: counted, keys, log, now: () => frozen }));
    const getsPerCall: Record<string, number[]> = Object.fromEntries(Object.keys(groups).map((g) => [g, []]));
    const bodies: Record<string, Set<string>> = Object.fromEntries(
      Object.keys(groups).map((g) => [g, new Set<string>()]),
    );
    try {
      for (let i = 0; i < n; i += 1) {
        for (const [group, keyFor] of Object.entries(groups)) {
          const before = gets;
          const res = await fetch(`${c.url}/v1/messages`, { method: 'POST', headers: { 'x-api-key': keyFor(i) } });
          const body = (await res.json()) as { error?: unknown };
          getsPerCall[group]!.push(gets - before);
          bodies[group]!.add(`${res.status} ${JSON.stringify(body.error ?? 'ok')}`);
        }
      }
    } finally {
      c.auth.stop();
      c.server.closeAllConnections();
      await new Promise((r) => c.server.close(r));
    }
    const refused = ['unknownFresh', 'unknownRepeated', 'revokedFresh', 'wrongChecksum'];
    const oneAnswer = new Set(refused.flatMap((g) => [...bodies[g]!]));
    expect([...oneAnswer]).toEqual(['401 {"type":"authentication_error","message":"Invalid API key"}']);
    const once = Array.from({ length: n }, (_, i) => (i === 0 ? 1 : 0));
    expect(getsPerCall).toEqual({
      unknownFresh: Array<number>(n).fill(1),
      revokedFresh: Array<number>(n).fill(1),
      unknownRepeated: once,
      valid: once,
      wrongChecksum: Array<number>(n).fill(0),
    });
  });
});
