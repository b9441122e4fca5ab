// The admin API's two roles on a real Redis through supertest, played as the holder of each secret: the read-only
// token reads every route and writes nothing (403 naming what it tried, before any body is read), the admin token does
// everything, GET /admin/session names the role, and no node token or gateway key is ever taken for either role.
import express from 'express';
import request from 'supertest';
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  NodeTokens,
  type SharedStore,
} from '@switchyard/shared';
import { scanKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { generateGatewayKey } from '../keys/index.js';
import { createEnrolmentRepository } from '../nodes/index.js';
import { createAdminRouter, type AdminRouterDeps } from './admin-router.js';

const ADMIN_TOKEN = `adm-${'a'.repeat(44)}`;
const READ_TOKEN = `rd-${'r'.repeat(45)}`;
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
const READ = { authorization: `Bearer ${READ_TOKEN}` };
const NOW = 1_800_000_000_000;

function errOf(res: { body: unknown }): { type: string; message: string } {
  return (res.body as { error: { type: string; message: string } }).error;
}

describe('admin API roles', () => {
  const prefix = uniquePrefix('admin-roles');
  const keys = createKeyspace(prefix);
  let client: Redis;
  let store: SharedStore;
  let app: express.Express;
  let base: Omit<AdminRouterDeps, 'adminToken'>;

  beforeAll(() => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    base = { store, keys, registry: { nodes: () => [] }, log: createNullLogger(), now: () => NOW };
    app = express().use('/admin', createAdminRouter({ ...base, adminToken: ADMIN_TOKEN, readToken: READ_TOKEN }));
  });

  afterEach(async () => {
    const left = await scanKeys(client, prefix);
    if (left.length > 0) await client.del(...left);
  });

  afterAll(async () => {
    await store.close();
    await client.quit();
  });

  /** A key and an enrolled node for the routes to find. */
  async function seed(): Promise<{ keyId: string }> {
    const created = await request(app).post('/admin/keys').set(ADMIN).send({ name: 'seeded', rpm: 5 }).expect(201);
    await createEnrolmentRepository({ store, keys }).create('node-a');
    return { keyId: (created.body as { record: { id: string } }).record.id };
  }

  /** Every value stored under this suite's prefix, to show a refused write changed nothing. */
  async function snapshot(): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const key of (await scanKeys(client, prefix)).sort()) {
      const type = await client.type(key);
      out[key] =
        type === 'string'
          ? ((await client.get(key)) ?? '')
          : type === 'set'
            ? (await client.smembers(key)).sort().join(',')
            : type;
    }
    return out;
  }

  it('GET /admin/session names the role of each token', async () => {
    await request(app).get('/admin/session').set(ADMIN).expect(200, { role: 'admin' });
    const read = await request(app).get('/admin/session').set(READ).expect(200, { role: 'read' });
    expect(read.headers['cache-control']).toBe('no-store');
    await request(app).get('/admin/session').expect(401);
  });

  it('the read-only token reads every route: keys, one key, nodes, usage, recent requests, HEAD too', async () => {
    const { keyId } = await seed();
    const listed = await request(app).get('/admin/keys').set(READ).expect(200);
    expect((listed.body as { keys: { id: string }[] }).keys.map((k) => k.id)).toEqual([keyId]);
    await request(app).get(`/admin/keys/${keyId}`).set(READ).expect(200);
    const nodes = await request(app).get('/admin/nodes').set(READ).expect(200);
    expect((nodes.body as { enrolled: { nodeId: string }[] }).enrolled.map((e) => e.nodeId)).toEqual(['node-a']);
    const usage = await request(app).get('/admin/usage?by=key').set(READ).expect(200);
    expect(usage.body).toMatchObject({ by: 'key', rows: [] });
    await request(app).get('/admin/usage/recent').set(READ).expect(200, { requests: [] });
    await request(app).head('/admin/keys').set(READ).expect(200);
  });

  const writes: [string, (keyId: string) => string][] = [
    ['post', () => '/admin/keys'],
    ['patch', (id) => `/admin/keys/${id}`],
    ['delete', (id) => `/admin/keys/${id}`],
    ['post', () => '/admin/nodes'],
    ['delete', () => '/admin/nodes/node-a'],
    ['post', () => '/admin/nodes/node-a/token'],
    ['post', () => '/admin/nodes/node-a/drain'],
    ['post', () => '/admin/nodes/node-a/resume'],
    ['put', () => '/admin/keys'],
  ];

  it.each(writes)(
    'the read-only token cannot %s %s: 403 naming the method and path, before the body is read, nothing changed',
    async (method, path) => {
      const { keyId } = await seed();
      const before = await snapshot();
      const target = path(keyId);
      // A malformed body: a 400 here would mean the body was read before the role was checked.
      const agent = request(app);
      const res = await agent[method as 'post'](target)
        .set(READ)
        .set('content-type', 'application/json')
        .send('{"name":')
        .expect(403);
      expect(res.body).toMatchObject({ type: 'error', error: { type: 'permission_error' } });
      expect(errOf(res).message).toBe(
        `This token is read-only (ADMIN_READ_TOKEN): ${method.toUpperCase()} ${target} needs the admin token (ADMIN_TOKEN)`,
      );
      expect(res.headers['request-id']).toMatch(/^req_/);
      expect(await snapshot()).toEqual(before);
    },
  );

  it('the admin token writes: creates, edits and revokes a key; enrols, drains, rotates and revokes a node', async () => {
    const created = await request(app)
      .post('/admin/keys')
      .set(ADMIN)
      .send({ name: 'w', allowedBetas: ['context-1m-2025-08-07'] })
      .expect(201);
    const id = (created.body as { record: { id: string } }).record.id;
    await request(app).patch(`/admin/keys/${id}`).set(ADMIN).send({ allowedBetas: null }).expect(200);
    await request(app).delete(`/admin/keys/${id}`).set(ADMIN).expect(200);
    await request(app).post('/admin/nodes').set(ADMIN).send({ id: 'node-w' }).expect(201);
    await request(app).post('/admin/nodes/node-w/drain').set(ADMIN).expect(200);
    await request(app).post('/admin/nodes/node-w/token').set(ADMIN).expect(200);
    await request(app).delete('/admin/nodes/node-w').set(ADMIN).expect(200);
    expect(await scanKeys(client, prefix)).toEqual([]);
  });

  it('without a read-only token there is no read role: any other token is a 401', async () => {
    const adminOnly = express().use('/admin', createAdminRouter({ ...base, adminToken: ADMIN_TOKEN }));
    await request(adminOnly).get('/admin/keys').set(READ).expect(401);
    await request(adminOnly).get('/admin/session').set(ADMIN).expect(200, { role: 'admin' });
  });

  it('never takes a node token or a gateway key for either role: refused when presented, and refused as either token', async () => {
    const enrolled = await createEnrolmentRepository({ store, keys }).create('node-a');
    for (const secret of [enrolled!.token, generateGatewayKey(), NodeTokens.generate()]) {
      const res = await request(app)
        .get('/admin/keys')
        .set({ authorization: `Bearer ${secret}` })
        .expect(401);
      expect(errOf(res).message).toMatch(/^Invalid admin token: a (node token|gateway key) is not an admin token$/);
      await request(app)
        .post('/admin/keys')
        .set({ authorization: `Bearer ${secret}` })
        .send({ name: 'x' })
        .expect(401);
      expect(() => createAdminRouter({ ...base, adminToken: ADMIN_TOKEN, readToken: secret })).toThrow(
        /read-only admin token has the shape of a/,
      );
      expect(() => createAdminRouter({ ...base, adminToken: secret, readToken: READ_TOKEN })).toThrow(
        /admin token has the shape of a/,
      );
    }
  });

  it('refuses to be built with a read-only token that is short or is the admin token', () => {
    expect(() => createAdminRouter({ ...base, adminToken: ADMIN_TOKEN, readToken: 'r'.repeat(31) })).toThrow(
      'The read-only admin token must be at least 32 bytes',
    );
    expect(() => createAdminRouter({ ...base, adminToken: ADMIN_TOKEN, readToken: ADMIN_TOKEN })).toThrow(
      'The read-only admin token must differ from the admin token',
    );
  });
});
