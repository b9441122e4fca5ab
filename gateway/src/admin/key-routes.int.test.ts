// /admin/keys on a real Redis through supertest: each route's happy path, bad bodies and unknown ids.
import express from 'express';
import request from 'supertest';
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  type SharedStore,
} from '@switchyard/shared';
import { scanKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { isWellFormedGatewayKey } from '../keys/index.js';
import { createAdminRouter } from './admin-router.js';

const TOKEN = `tok-${'a'.repeat(44)}`;
const AUTH = { authorization: `Bearer ${TOKEN}` };
const NOW = 1_800_000_000_000;

interface ErrorBody {
  error: { type: string; message: string; details?: { path: string; message: string }[] };
}

function errOf(res: { body: unknown }): ErrorBody['error'] {
  return (res.body as ErrorBody).error;
}

interface Created {
  key: string;
  record: Record<string, unknown>;
}

describe('admin API: keys', () => {
  const prefix = uniquePrefix('admin-keys');
  const keys = createKeyspace(prefix);
  let client: Redis;
  let store: SharedStore;
  let app: express.Express;

  beforeAll(() => {
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
  });

  afterEach(async () => {
    const left = await scanKeys(client, prefix);
    if (left.length > 0) await client.del(...left);
  });

  afterAll(async () => {
    await store.close();
    await client.quit();
  });

  async function createKey(body: Record<string, unknown> = { name: 'alice' }): Promise<Created> {
    const res = await request(app).post('/admin/keys').set(AUTH).send(body).expect(201);
    return res.body as Created;
  }

  it('creates a key: shown once, well formed, defaults applied, no digest, not cacheable', async () => {
    const res = await request(app)
      .post('/admin/keys')
      .set(AUTH)
      .send({ name: '  alice ', rpm: 60, allowedModels: ['claude-sonnet-4-5'] })
      .expect(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const created = res.body as Created;
    expect(isWellFormedGatewayKey(created.key)).toBe(true);
    expect(created.record.id).toMatch(/^key_[0-9a-f]{16}$/);
    expect(created.record).toEqual({
      id: created.record.id,
      name: 'alice',
      hint: `${created.key.slice(0, 7)}…${created.key.slice(-4)}`,
      enabled: true,
      expiresAt: null,
      allowedModels: ['claude-sonnet-4-5'],
      allowedBetas: null,
      rpm: 60,
      concurrency: null,
      dailyTokenBudget: null,
      dailyUsdBudget: null,
      monthlyUsdBudget: null,
      createdAt: NOW,
      updatedAt: NOW,
    });
  });

  it('accepts expiresAt as epoch ms or an ISO date-time', async () => {
    const iso = await createKey({ name: 'iso', expiresAt: '2030-01-02T03:04:05Z' });
    expect(iso.record.expiresAt).toBe(Date.UTC(2030, 0, 2, 3, 4, 5));
    const ms = await createKey({ name: 'ms', expiresAt: NOW + 1 });
    expect(ms.record.expiresAt).toBe(NOW + 1);
  });

  const badCreates: [string, unknown, string][] = [
    ['no name', {}, 'name'],
    ['an empty name', { name: '   ' }, 'name'],
    ['a negative rpm', { name: 'x', rpm: -1 }, 'rpm'],
    ['a fractional concurrency', { name: 'x', concurrency: 1.5 }, 'concurrency'],
    ['a budget as a string', { name: 'x', dailyTokenBudget: '1000' }, 'dailyTokenBudget'],
    ['a USD budget of 0', { name: 'x', dailyUsdBudget: 0 }, 'dailyUsdBudget'],
    ['a negative USD budget', { name: 'x', monthlyUsdBudget: -5 }, 'monthlyUsdBudget'],
    ['a USD budget finer than a micro-dollar', { name: 'x', dailyUsdBudget: 0.0000001 }, 'dailyUsdBudget'],
    ['a USD budget with 7 decimals', { name: 'x', monthlyUsdBudget: 12.3456789 }, 'monthlyUsdBudget'],
    ['a USD budget as a string', { name: 'x', dailyUsdBudget: '5' }, 'dailyUsdBudget'],
    ['an empty model list', { name: 'x', allowedModels: [] }, 'allowedModels'],
    ['a blank model', { name: 'x', allowedModels: ['ok', ' '] }, 'allowedModels.1'],
    ['a beta name with a space', { name: 'x', allowedBetas: ['context-1m-2025-08-07', 'two words'] }, 'allowedBetas.1'],
    ['betas as one string', { name: 'x', allowedBetas: 'context-1m-2025-08-07' }, 'allowedBetas'],
    ['a date that is no date', { name: 'x', expiresAt: 'tomorrow' }, 'expiresAt'],
    ['enabled as a string', { name: 'x', enabled: 'yes' }, 'enabled'],
    ['an unknown field (a typo)', { name: 'x', rpn: 5 }, '(body)'],
    ['an array', [{ name: 'x' }], '(body)'],
  ];

  it.each(badCreates)('refuses a create with %s: 400 with field errors, nothing stored', async (_label, body, path) => {
    const res = await request(app)
      .post('/admin/keys')
      .set(AUTH)
      .send(body as object)
      .expect(400);
    expect(res.body).toMatchObject({ type: 'error', error: { type: 'invalid_request_error' } });
    expect(errOf(res).message).toContain(`${path}:`);
    expect(errOf(res).details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    expect(await scanKeys(client, prefix)).toEqual([]);
  });

  it('lists every problem of a bad body at once', async () => {
    const res = await request(app).post('/admin/keys').set(AUTH).send({ rpm: 0, concurrency: -2 }).expect(400);
    expect((errOf(res).details as { path: string }[]).map((d) => d.path).sort()).toEqual([
      'concurrency',
      'name',
      'rpm',
    ]);
  });

  it('refuses malformed JSON and bodies without a JSON content type', async () => {
    const bad = await request(app)
      .post('/admin/keys')
      .set(AUTH)
      .set('content-type', 'application/json')
      .send('{"name":')
      .expect(400);
    expect(bad.body).toMatchObject({
      type: 'error',
      error: { type: 'invalid_request_error', message: 'Malformed JSON body' },
    });
    const plain = await request(app)
      .post('/admin/keys')
      .set(AUTH)
      .set('content-type', 'text/plain')
      .send('name=x')
      .expect(400);
    expect(errOf(plain).details?.map((d) => d.path)).toEqual(['(body)']);
    expect(errOf(plain).message).toContain('JSON');
  });

  it('refuses bodies over 64 KB with 413', async () => {
    await request(app)
      .post('/admin/keys')
      .set(AUTH)
      .send({ name: 'x'.repeat(70_000) })
      .expect(413);
  });

  it('lists keys and reads one, never with digests or keys', async () => {
    const one = await createKey({ name: 'one' });
    const two = await createKey({ name: 'two', rpm: 5 });
    const list = await request(app).get('/admin/keys').set(AUTH).expect(200);
    expect(((list.body as { keys: unknown }).keys as { name: string }[]).map((k) => k.name).sort()).toEqual([
      'one',
      'two',
    ]);
    const got = await request(app)
      .get(`/admin/keys/${String(two.record.id)}`)
      .set(AUTH)
      .expect(200);
    expect(got.body).toEqual(two.record);
    for (const text of [list.text, got.text]) {
      expect(text).not.toMatch(/digest/);
      expect(text).not.toMatch(/[0-9a-f]{64}/);
      for (const { key } of [one, two]) expect(text).not.toContain(key.slice(3, 30));
    }
  });

  it('answers 404 for unknown or impossible ids', async () => {
    for (const id of ['key_0000000000000000', 'a:b', 'x%20y']) {
      const res = await request(app).get(`/admin/keys/${id}`).set(AUTH).expect(404);
      expect(errOf(res).type).toBe('not_found_error');
    }
  });

  it('edits a key: limits set and cleared, name, enabled, expiry', async () => {
    const { record } = await createKey({ name: 'edit', rpm: 5, concurrency: 2 });
    const res = await request(app)
      .patch(`/admin/keys/${String(record.id)}`)
      .set(AUTH)
      .send({
        rpm: null,
        concurrency: 3,
        name: 'edited',
        enabled: false,
        expiresAt: NOW + 10,
        allowedModels: ['claude-opus-4-1'],
      })
      .expect(200);
    expect(res.body).toEqual({
      ...record,
      rpm: null,
      concurrency: 3,
      name: 'edited',
      enabled: false,
      expiresAt: NOW + 10,
      allowedModels: ['claude-opus-4-1'],
    });
    await request(app)
      .get(`/admin/keys/${String(record.id)}`)
      .set(AUTH)
      .expect(200, res.body);
  });

  it('keeps USD budgets: set at creation with up to 6 decimals, changed, cleared (null)', async () => {
    const { record } = await createKey({ name: 'usd', dailyUsdBudget: 5, monthlyUsdBudget: 100.123456 });
    expect(record).toMatchObject({ dailyUsdBudget: 5, monthlyUsdBudget: 100.123456 });
    const id = String(record.id);
    await request(app).get(`/admin/keys/${id}`).set(AUTH).expect(200, record);
    const changed = await request(app).patch(`/admin/keys/${id}`).set(AUTH).send({ dailyUsdBudget: 0.25 }).expect(200);
    expect(changed.body).toEqual({ ...record, dailyUsdBudget: 0.25 });
    const cleared = await request(app)
      .patch(`/admin/keys/${id}`)
      .set(AUTH)
      .send({ monthlyUsdBudget: null })
      .expect(200);
    expect(cleared.body).toEqual({ ...record, dailyUsdBudget: 0.25, monthlyUsdBudget: null });
  });

  it('keeps a beta allowlist: set at creation, read back, changed, cleared to any (null), and an empty list allows none', async () => {
    const { record } = await createKey({
      name: 'betas',
      allowedBetas: [' context-1m-2025-08-07', 'fine-grained-tool-streaming-2025-05-14'],
    });
    expect(record.allowedBetas).toEqual(['context-1m-2025-08-07', 'fine-grained-tool-streaming-2025-05-14']);
    const id = String(record.id);
    await request(app).get(`/admin/keys/${id}`).set(AUTH).expect(200, record);
    const narrowed = await request(app)
      .patch(`/admin/keys/${id}`)
      .set(AUTH)
      .send({ allowedBetas: ['context-1m-2025-08-07'] })
      .expect(200);
    expect(narrowed.body).toEqual({ ...record, allowedBetas: ['context-1m-2025-08-07'] });
    const none = await request(app).patch(`/admin/keys/${id}`).set(AUTH).send({ allowedBetas: [] }).expect(200);
    expect((none.body as { allowedBetas: unknown }).allowedBetas).toEqual([]);
    const any = await request(app).patch(`/admin/keys/${id}`).set(AUTH).send({ allowedBetas: null }).expect(200);
    expect((any.body as { allowedBetas: unknown }).allowedBetas).toBeNull();
    const listed = await request(app).get('/admin/keys').set(AUTH).expect(200);
    expect(
      (listed.body as { keys: { id: string; allowedBetas: unknown }[] }).keys.find((k) => k.id === id)?.allowedBetas,
    ).toBeNull();
  });

  const badPatches: [string, unknown, string][] = [
    ['an empty body', {}, '(body)'],
    ['enabled as a string', { enabled: 'no' }, 'enabled'],
    ['an unknown field', { digest: 'f'.repeat(64) }, '(body)'],
    ['a zero rpm', { rpm: 0 }, 'rpm'],
    ['an empty name', { name: '' }, 'name'],
    ['a beta with a slash', { allowedBetas: ['a/b'] }, 'allowedBetas.0'],
    ['a USD budget with 7 decimals', { dailyUsdBudget: 1.0000001 }, 'dailyUsdBudget'],
  ];

  it.each(badPatches)('refuses a patch with %s: 400, key unchanged', async (_label, body, path) => {
    const { record } = await createKey({ name: 'stay' });
    const res = await request(app)
      .patch(`/admin/keys/${String(record.id)}`)
      .set(AUTH)
      .send(body as object)
      .expect(400);
    expect(errOf(res).details).toEqual(expect.arrayContaining([expect.objectContaining({ path })]));
    await request(app)
      .get(`/admin/keys/${String(record.id)}`)
      .set(AUTH)
      .expect(200, record);
  });

  it('answers a patch of an unknown id with 404 and creates nothing', async () => {
    const res = await request(app).patch('/admin/keys/key_0000000000000000').set(AUTH).send({ rpm: 3 }).expect(404);
    expect(errOf(res).type).toBe('not_found_error');
    expect(await scanKeys(client, prefix)).toEqual([]);
  });

  it('revokes a key: gone from reads and lists, a second revoke is 404', async () => {
    const { record } = await createKey({ name: 'gone' });
    await request(app)
      .delete(`/admin/keys/${String(record.id)}`)
      .set(AUTH)
      .expect(200, { id: record.id, revoked: true });
    await request(app)
      .get(`/admin/keys/${String(record.id)}`)
      .set(AUTH)
      .expect(404);
    await request(app).get('/admin/keys').set(AUTH).expect(200, { keys: [] });
    await request(app)
      .delete(`/admin/keys/${String(record.id)}`)
      .set(AUTH)
      .expect(404);
    expect(await scanKeys(client, prefix)).toEqual([]);
  });
});
