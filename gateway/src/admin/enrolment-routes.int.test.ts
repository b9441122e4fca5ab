// Node enrolment through the admin API on a real Redis: the token is answered once and stored nowhere (only its
// digest), duplicates and bad ids are refused, rotation and revocation take effect on enrolments.verify at once,
// and a node's token never opens the admin API.
import express from 'express';
import request from 'supertest';
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  NodeTokens,
  tokenDigest,
  type SharedStore,
} from '@switchyard/shared';
import { scanKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createEnrolmentRepository, type EnrolmentRepository } from '../nodes/index.js';
import { createAdminRouter } from './admin-router.js';

const TOKEN = `tok-${'e'.repeat(44)}`;
const AUTH = { authorization: `Bearer ${TOKEN}` };
const NOW = 1_800_000_000_000;

interface NodeTokenJson {
  nodeId: string;
  label?: string;
  token: string;
  tokenHint: string;
  createdAt: number;
  rotatedAt?: number;
  env: Record<string, string>;
}

/** Every value under the prefix, whatever its type, as one text (to search for a secret). */
async function everything(client: Redis, prefix: string): Promise<string> {
  const parts: string[] = [];
  for (const key of await scanKeys(client, prefix)) {
    parts.push(key);
    const type = await client.type(key);
    if (type === 'string') parts.push((await client.get(key)) ?? '');
    else if (type === 'set') parts.push(...(await client.smembers(key)));
    else if (type === 'hash') parts.push(JSON.stringify(await client.hgetall(key)));
    else if (type === 'list') parts.push(...(await client.lrange(key, 0, -1)));
    else if (type === 'zset') parts.push(...(await client.zrange(key, 0, -1)));
    else parts.push(`<${type}>`);
  }
  return parts.join('\n');
}

describe('node enrolment', () => {
  const prefix = uniquePrefix('enrol-admin');
  const keys = createKeyspace(prefix);
  let client: Redis;
  let store: SharedStore;
  let enrolments: EnrolmentRepository;
  let app: express.Express;

  beforeAll(() => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    enrolments = createEnrolmentRepository({ store, keys });
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

  async function enrol(id: string, label?: string): Promise<NodeTokenJson> {
    const res = await request(app)
      .post('/admin/nodes')
      .set(AUTH)
      .send(label === undefined ? { id } : { id, label })
      .expect(201);
    return res.body as NodeTokenJson;
  }

  it('answers the token once, with the .env lines; only its digest reaches Redis and the list shows a hint', async () => {
    const res = await request(app)
      .post('/admin/nodes')
      .set(AUTH)
      .send({ id: 'node-a', label: 'laptop account' })
      .expect(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const made = res.body as NodeTokenJson;
    expect(made.token).toMatch(/^syn-/);
    expect(made).toEqual({
      nodeId: 'node-a',
      label: 'laptop account',
      token: made.token,
      tokenHint: NodeTokens.hint(made.token),
      createdAt: NOW,
      env: { NODE_ID: 'node-a', NODE_TOKEN: made.token },
    });
    expect(NodeTokens.isWellFormed(made.token)).toBe(true);
    expect(await enrolments.verify('node-a', made.token)).toMatchObject({ nodeId: 'node-a' });

    const stored = await everything(client, prefix);
    expect(stored).toContain(tokenDigest(made.token));
    expect(stored).not.toContain(made.token);
    // Not even a long piece of it: the hint's few characters at most.
    expect(stored).not.toContain(made.token.slice(4, 24));

    const listed = await request(app).get('/admin/nodes').set(AUTH).expect(200);
    expect((listed.body as { enrolled: unknown[] }).enrolled).toEqual([
      {
        nodeId: 'node-a',
        label: 'laptop account',
        tokenHint: made.tokenHint,
        createdAt: NOW,
        connected: false,
        adminDrained: false,
      },
    ]);
    expect(listed.text).not.toContain(made.token);
  });

  it('refuses a node id enrolled before with a 409 naming the fix; the first token keeps working', async () => {
    const first = await enrol('node-a');
    const again = await request(app).post('/admin/nodes').set(AUTH).send({ id: 'node-a', label: 'other' }).expect(409);
    const error = (again.body as { type: string; error: { type: string; message: string } }).error;
    expect([error.type, error.message]).toEqual([
      'invalid_request_error',
      'Node node-a is already enrolled: rotate its token (POST /admin/nodes/node-a/token) or revoke it first',
    ]);
    expect(again.headers['request-id']).toMatch(/^req_/);
    expect(await enrolments.verify('node-a', first.token)).toBeDefined();
    expect((await enrolments.get('node-a'))?.label).toBeUndefined();
  });

  it.each([
    ['an empty id', { id: '' }],
    ['a colon', { id: 'a:b' }],
    ['a space', { id: 'node a' }],
    ['a slash', { id: 'node/a' }],
    ['65 characters', { id: 'n'.repeat(65) }],
    ['no id', { label: 'x' }],
    ['a number', { id: 7 }],
    ['an unknown field', { id: 'node-a', token: NodeTokens.generate() }],
    ['an empty label', { id: 'node-a', label: ' ' }],
    ['a label of 201 characters', { id: 'node-a', label: 'l'.repeat(201) }],
  ])('refuses %s with a 400 listing the problem, and writes nothing', async (_what, body) => {
    const res = await request(app).post('/admin/nodes').set(AUTH).send(body).expect(400);
    const error = (res.body as { error: { type: string; details?: { path: string }[] } }).error;
    expect(error.type).toBe('invalid_request_error');
    expect(error.details?.length).toBeGreaterThan(0);
    expect(await scanKeys(client, prefix)).toEqual([]);
  });

  it('refuses a body that is not JSON', async () => {
    await request(app)
      .post('/admin/nodes')
      .set(AUTH)
      .set('content-type', 'application/json')
      .send('{"id":')
      .expect(400);
    await request(app).post('/admin/nodes').set(AUTH).expect(400);
    expect(await scanKeys(client, prefix)).toEqual([]);
  });

  it('rotates: a new token shown once; the old one fails verify at once and the new one passes', async () => {
    const first = await enrol('node-a', 'laptop account');
    const res = await request(app).post('/admin/nodes/node-a/token').set(AUTH).expect(200);
    expect(res.headers['cache-control']).toBe('no-store');
    const rotated = res.body as NodeTokenJson;
    expect(NodeTokens.isWellFormed(rotated.token)).toBe(true);
    expect(rotated).toEqual({
      nodeId: 'node-a',
      label: 'laptop account',
      token: rotated.token,
      tokenHint: NodeTokens.hint(rotated.token),
      createdAt: NOW,
      rotatedAt: NOW,
      env: { NODE_ID: 'node-a', NODE_TOKEN: rotated.token },
    });
    expect(rotated.token).not.toBe(first.token);
    expect(await enrolments.verify('node-a', first.token)).toBeUndefined();
    expect(await enrolments.verify('node-a', rotated.token)).toMatchObject({ nodeId: 'node-a', rotatedAt: NOW });
    const stored = await everything(client, prefix);
    expect(stored).not.toContain(rotated.token);
    expect(stored).not.toContain(tokenDigest(first.token));
    const listed = (await request(app).get('/admin/nodes').set(AUTH).expect(200)).body as {
      enrolled: { tokenHint: string; rotatedAt?: number }[];
    };
    expect(listed.enrolled).toEqual([expect.objectContaining({ tokenHint: rotated.tokenHint, rotatedAt: NOW })]);

    const unknown = await request(app).post('/admin/nodes/ghost/token').set(AUTH).expect(404);
    expect(unknown.body).toMatchObject({
      error: { type: 'not_found_error', message: 'No enrolled node with this id' },
    });
    await request(app).post('/admin/nodes/a:b/token').set(AUTH).expect(404);
  });

  it('revokes: the token fails verify, the sealed copy and the drain flag are gone, the list drops it; a second revoke is a 404', async () => {
    const made = await enrol('node-a');
    const other = await enrol('node-b');
    await client.set(keys.sealedCredential('node-a'), 'v1.sealed-bytes-stand-in');
    await client.set(keys.sealedCredential('node-b'), 'v1.sealed-bytes-stand-in');
    await request(app).post('/admin/nodes/node-a/drain').set(AUTH).expect(200);

    await request(app).delete('/admin/nodes/node-a').set(AUTH).expect(200, { nodeId: 'node-a', revoked: true });
    expect(await enrolments.verify('node-a', made.token)).toBeUndefined();
    expect(await client.exists(keys.sealedCredential('node-a'))).toBe(0);
    expect(await client.exists(keys.nodeControl('node-a'))).toBe(0);
    expect(await client.sismember(keys.nodeEnrolments(), 'node-a')).toBe(0);
    // The other node is untouched.
    expect(await enrolments.verify('node-b', other.token)).toBeDefined();
    expect(await client.exists(keys.sealedCredential('node-b'))).toBe(1);
    const listed = (await request(app).get('/admin/nodes').set(AUTH).expect(200)).body as {
      enrolled: { nodeId: string }[];
    };
    expect(listed.enrolled.map((e) => e.nodeId)).toEqual(['node-b']);

    const again = await request(app).delete('/admin/nodes/node-a').set(AUTH).expect(404);
    expect(again.body).toMatchObject({ error: { type: 'not_found_error' } });
    await request(app).post('/admin/nodes/node-a/drain').set(AUTH).expect(404);
    // Enrolled again under the same id: a new token, the old one still refused.
    const fresh = await enrol('node-a');
    expect(await enrolments.verify('node-a', made.token)).toBeUndefined();
    expect(await enrolments.verify('node-a', fresh.token)).toBeDefined();
  });

  it("refuses a node's own token as the admin bearer, on every node route", async () => {
    const made = await enrol('node-a');
    const bearer = { authorization: `Bearer ${made.token}` };
    const tries = [
      request(app).get('/admin/nodes').set(bearer),
      request(app).post('/admin/nodes').set(bearer).send({ id: 'node-evil' }),
      request(app).post('/admin/nodes/node-a/token').set(bearer),
      request(app).delete('/admin/nodes/node-a').set(bearer),
      request(app).post('/admin/nodes/node-a/drain').set(bearer),
      request(app).get('/admin/keys').set(bearer),
    ];
    for (const res of await Promise.all(tries)) {
      expect([res.status, (res.body as { error: { message: string } }).error.message]).toEqual([
        401,
        'Invalid admin token: a node token is not an admin token',
      ]);
    }
    // Nothing changed: same token, no new node.
    expect(await enrolments.verify('node-a', made.token)).toBeDefined();
    expect((await enrolments.list()).map((e) => e.nodeId)).toEqual(['node-a']);
  });
});
