// The admin API on a real Redis through supertest: auth on every route, the node routes, unknown routes.
import crypto from 'node:crypto';
import express from 'express';
import request from 'supertest';
import type { Redis } from 'ioredis';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createNullLogger,
  initialAccountState,
  NodeTokens,
  type SharedStore,
} from '@switchyard/shared';
import { scanKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { generateGatewayKey } from '../keys/index.js';
import { createEnrolmentRepository } from '../nodes/index.js';
import type { NodeView } from '../routing/index.js';
import { createAdminRouter } from './admin-router.js';

const TOKEN = `tok-${'a'.repeat(44)}`;
const AUTH = { authorization: `Bearer ${TOKEN}` };
const NOW = 1_800_000_000_000;

function nodeView(nodeId: string, over: Partial<NodeView> = {}): NodeView {
  // Built apart from the literal below: a record carrying an address (as registries once did) must not show it.
  const record = {
    nodeId,
    url: `http://127.0.0.1:1/${nodeId}`,
    accountKind: 'oauth' as const,
    accountLabel: `${nodeId}@example.com`,
    state: initialAccountState(NOW - 5000),
    inFlight: 2,
    version: '0.1.0',
    gitSha: 'abc1234',
    startedAt: NOW - 60_000,
    heartbeatAt: NOW - 1500,
  };
  return { record, adminDrained: false, ...over };
}

interface ErrorBody {
  error: { type: string; message: string; details?: { path: string; message: string }[] };
}

function errOf(res: { body: unknown }): ErrorBody['error'] {
  return (res.body as ErrorBody).error;
}

describe('admin API', () => {
  const prefix = uniquePrefix('admin');
  const keys = createKeyspace(prefix);
  let client: Redis;
  let store: SharedStore;
  let nodes: NodeView[] = [];
  let app: express.Express;

  beforeAll(() => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    app = express();
    // This suite sends hundreds of wrong tokens on purpose, from one address on a fixed clock: a limit it never reaches
    // (admin-roles.int.test.ts and auth-throttle.test.ts test the throttle).
    const authThrottle = { maxFailures: 1_000_000 };
    app.use(
      '/admin',
      createAdminRouter({
        store,
        keys,
        adminToken: TOKEN,
        registry: { nodes: () => nodes },
        log: createNullLogger(),
        now: () => NOW,
        authThrottle,
      }),
    );
  });

  afterEach(async () => {
    nodes = [];
    const left = await scanKeys(client, prefix);
    if (left.length > 0) await client.del(...left);
  });

  afterAll(async () => {
    await store.close();
    await client.quit();
  });

  describe('authentication', () => {
    const routes: [string, string][] = [
      ['post', '/admin/keys'],
      ['get', '/admin/keys'],
      ['get', '/admin/keys/key_x'],
      ['patch', '/admin/keys/key_x'],
      ['delete', '/admin/keys/key_x'],
      ['get', '/admin/nodes'],
      ['post', '/admin/nodes'],
      ['delete', '/admin/nodes/node-a'],
      ['post', '/admin/nodes/node-a/token'],
      ['post', '/admin/nodes/node-a/drain'],
      ['post', '/admin/nodes/node-a/resume'],
      ['get', '/admin/nothing-here'],
    ];
    const wrongs: [string, Record<string, string>][] = [
      ['missing', {}],
      ['wrong token of the same length', { authorization: `Bearer ${TOKEN.slice(0, -1)}b` }],
      ['the token as x-api-key', { 'x-api-key': TOKEN }],
      ['another scheme', { authorization: `Basic ${TOKEN}` }],
      ['a prefix of the token', { authorization: `Bearer ${TOKEN.slice(0, 20)}` }],
      ['a node token', { authorization: `Bearer ${NodeTokens.generate()}` }],
      ['a gateway key', { authorization: `Bearer ${generateGatewayKey()}` }],
    ];

    it.each(routes)(
      'refuses %s %s without the right token, before reading the body or touching Redis',
      async (method, path) => {
        for (const [, headers] of wrongs) {
          // A malformed body: a 400 here would mean the body was read before the token was checked.
          const agent = request(app);
          const res = await agent[method as 'get'](path)
            .set(headers)
            .set('content-type', 'application/json')
            .send('{"name":')
            .expect(401);
          expect(res.body).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
          expect(res.headers['request-id']).toMatch(/^req_/);
        }
        expect(await scanKeys(client, prefix)).toEqual([]);
      },
    );

    it('tells a missing token from a wrong one', async () => {
      const missing = await request(app).get('/admin/keys').expect(401);
      const wrong = await request(app).get('/admin/keys').set({ authorization: 'Bearer nope' }).expect(401);
      expect(errOf(missing).message).toMatch(/Missing admin token/);
      expect(errOf(wrong).message).toBe('Invalid admin token');
    });

    it('lets the right token in', async () => {
      await request(app).get('/admin/keys').set(AUTH).expect(200, { keys: [] });
      await request(app)
        .get('/admin/keys')
        .set({ authorization: `bearer  ${TOKEN}` })
        .expect(200);
    });

    it('refuses to be built with an admin token shorter than 32 bytes', () => {
      expect(() =>
        createAdminRouter({ store, keys, adminToken: 'short', registry: { nodes: () => [] }, log: createNullLogger() }),
      ).toThrow(RangeError);
    });

    it('never takes a node token or a gateway key for the admin token: refused when presented, and as the admin token itself', async () => {
      const enrolled = await createEnrolmentRepository({ store, keys }).create('node-a');
      const nodeToken = enrolled!.token;
      const node = await request(app)
        .get('/admin/nodes')
        .set({ authorization: `Bearer ${nodeToken}` })
        .expect(401);
      expect(errOf(node).message).toBe('Invalid admin token: a node token is not an admin token');
      const key = await request(app)
        .get('/admin/keys')
        .set({ authorization: `Bearer ${generateGatewayKey()}` })
        .expect(401);
      expect(errOf(key).message).toBe('Invalid admin token: a gateway key is not an admin token');
      for (const shaped of [nodeToken, generateGatewayKey()]) {
        expect(() =>
          createAdminRouter({
            store,
            keys,
            adminToken: shaped,
            registry: { nodes: () => [] },
            log: createNullLogger(),
          }),
        ).toThrow(/has the shape of a/);
      }
    });

    // Timing a comparison over HTTP cannot tell a constant-time compare from an early-exit one (nanoseconds under
    // milliseconds of noise), so this watches what makes it constant-time: every presented token, whatever its
    // length, prefix or role, is hashed to 32 bytes and compared against both roles' digests with timingSafeEqual.
    it('compares in constant time: every presented token is checked against both roles with timingSafeEqual on equal-length digests', async () => {
      const compares = jest.spyOn(crypto, 'timingSafeEqual');
      try {
        const presented: [string | undefined, number][] = [
          [undefined, 401],
          [`Bearer ${TOKEN}`, 200],
          [`Bearer ${TOKEN.slice(0, -1)}z`, 401],
          [`Bearer ${'z'.repeat(TOKEN.length)}`, 401],
          [`Bearer ${TOKEN.slice(0, 8)}`, 401],
          [`Bearer ${TOKEN.repeat(20)}`, 401],
          [`Bearer ${TOKEN.slice(0, -2)}ü`, 401],
          [`Basic ${TOKEN}`, 401],
        ];
        const digests = new Set<string>();
        for (const [authorization, status] of presented) {
          compares.mockClear();
          await request(app)
            .get('/admin/keys')
            .set(authorization === undefined ? {} : { authorization })
            .expect(status);
          expect(compares).toHaveBeenCalledTimes(2);
          const [first, second] = compares.mock.calls.map((args) => args.map((v) => Buffer.from(v as Uint8Array)));
          for (const pair of [first!, second!]) expect(pair.map((v) => v.length)).toEqual([32, 32]);
          // One digest of the presented token, compared against both roles'.
          const hex = (pair: Buffer[]) => pair.map((v) => v.toString('hex'));
          const shared = [...new Set(hex(first!).filter((d) => hex(second!).includes(d)))];
          expect(shared).toHaveLength(1);
          digests.add(shared[0]!);
        }
        // Each distinct token was hashed (a header that is no bearer token counts as none, like a missing one):
        // nothing compared a fixed value in its place.
        expect(digests.size).toBe(presented.length - 1);
      } finally {
        compares.mockRestore();
      }
    });
  });

  describe('nodes', () => {
    it('shows the connected fleet: state with limits and reset times, in-flight, version, drain flag, and no address', async () => {
      const limitedState = {
        state: 'limited' as const,
        limitedUntil: NOW + 60_000,
        fiveHour: { utilization: 1.01, resetAt: NOW + 60_000 },
        updatedAt: NOW - 100,
      };
      nodes = [
        nodeView('node-a'),
        nodeView('node-b', { adminDrained: true, localState: limitedState, unreachableUntil: NOW + 3000 }),
        nodeView('node-c', { localState: { state: 'limited', limitedUntil: NOW - 1, updatedAt: NOW - 100 } }),
      ];
      const res = await request(app).get('/admin/nodes').set(AUTH).expect(200);
      const [a, b, c] = (res.body as { nodes: unknown }).nodes as Record<string, unknown>[];
      expect(a).toEqual({
        nodeId: 'node-a',
        accountKind: 'oauth',
        accountLabel: 'node-a@example.com',
        state: 'available',
        stateUpdatedAt: NOW - 5000,
        inFlight: 2,
        version: '0.1.0',
        gitSha: 'abc1234',
        startedAt: NOW - 60_000,
        heartbeatAt: NOW - 1500,
        heartbeatAgeMs: 1500,
        adminDrained: false,
        // No window figures yet: nothing to predict.
        foresight: { exhaustsAt: null, at: NOW },
      });
      expect(b).toMatchObject({
        state: 'limited',
        limitedUntil: NOW + 60_000,
        fiveHour: { utilization: 1.01, resetAt: NOW + 60_000 },
        stateUpdatedAt: NOW - 100,
        adminDrained: true,
        unreachableUntil: NOW + 3000,
        // At the limit: out since it was first seen there.
        foresight: { fiveHour: { utilization: 1.01, exhaustsAt: NOW, resetAt: NOW + 60_000 }, exhaustsAt: NOW },
      });
      expect(c).toMatchObject({ state: 'available', limitedUntil: NOW - 1 }); // the limit has lapsed
      // One build across the fleet; a router built without one reports the gateway's as unknown.
      expect(res.body).toMatchObject({
        enrolled: [],
        versions: [{ version: '0.1.0', gitSha: 'abc1234', nodes: ['node-a', 'node-b', 'node-c'] }],
        mixedVersions: false,
        gateway: { version: 'unknown', gitSha: 'unknown' },
      });
    });

    it('lists every enrolled node with its connected and drained state, never its token', async () => {
      const enrolments = createEnrolmentRepository({ store, keys, now: () => NOW - 10_000 });
      const a = await enrolments.create('node-a', 'laptop account');
      const z = await enrolments.create('node-z');
      await client.set(keys.nodeControl('node-z'), '{"drained":true}');
      nodes = [nodeView('node-a')];
      const res = await request(app).get('/admin/nodes').set(AUTH).expect(200);
      const body = res.body as { nodes: { nodeId: string }[]; enrolled: unknown[] };
      expect(body.nodes.map((n) => n.nodeId)).toEqual(['node-a']);
      expect(body.enrolled).toEqual([
        {
          nodeId: 'node-a',
          label: 'laptop account',
          tokenHint: a!.enrolment.tokenHint,
          createdAt: NOW - 10_000,
          connected: true,
          adminDrained: false,
        },
        {
          nodeId: 'node-z',
          tokenHint: z!.enrolment.tokenHint,
          createdAt: NOW - 10_000,
          connected: false,
          adminDrained: true,
        },
      ]);
      expect(res.text).not.toContain(a!.token);
      expect(res.text).not.toContain(z!.token);
      expect(res.text).not.toContain('tokenDigest');
    });

    it('drains and resumes a node through its control key', async () => {
      nodes = [nodeView('node-a')];
      await request(app)
        .post('/admin/nodes/node-a/drain')
        .set(AUTH)
        .expect(200, { nodeId: 'node-a', adminDrained: true });
      expect(await client.get(keys.nodeControl('node-a'))).toBe('{"drained":true}');
      expect(await client.ttl(keys.nodeControl('node-a'))).toBe(-1);
      await request(app)
        .post('/admin/nodes/node-a/resume')
        .set(AUTH)
        .expect(200, { nodeId: 'node-a', adminDrained: false });
      expect(await client.exists(keys.nodeControl('node-a'))).toBe(0);
    });

    it('drains an enrolled node that is not connected, and it shows as drained', async () => {
      await createEnrolmentRepository({ store, keys }).create('node-new');
      await request(app)
        .post('/admin/nodes/node-new/drain')
        .set(AUTH)
        .expect(200, { nodeId: 'node-new', adminDrained: true });
      expect(await client.get(keys.nodeControl('node-new'))).toBe('{"drained":true}');
      const listed = await request(app).get('/admin/nodes').set(AUTH).expect(200);
      expect((listed.body as { enrolled: unknown[] }).enrolled).toEqual([
        expect.objectContaining({ nodeId: 'node-new', connected: false, adminDrained: true }),
      ]);
      await request(app)
        .post('/admin/nodes/node-new/resume')
        .set(AUTH)
        .expect(200, { nodeId: 'node-new', adminDrained: false });
      expect(await client.exists(keys.nodeControl('node-new'))).toBe(0);
    });

    it('answers 404 for unknown nodes and writes nothing', async () => {
      for (const id of ['ghost', 'a:b', 'x'.repeat(65)]) {
        const drain = await request(app).post(`/admin/nodes/${id}/drain`).set(AUTH).expect(404);
        expect(errOf(drain).type).toBe('not_found_error');
        await request(app).post(`/admin/nodes/${id}/resume`).set(AUTH).expect(404);
      }
      expect(await scanKeys(client, prefix)).toEqual([]);
    });

    it('resumes a node revoked while drained, so its flag does not outlive it', async () => {
      await client.set(keys.nodeControl('departed'), '{"drained":true}');
      await request(app).post('/admin/nodes/departed/resume').set(AUTH).expect(200);
      expect(await client.exists(keys.nodeControl('departed'))).toBe(0);
    });
  });

  it('answers unknown admin routes with a 404 envelope', async () => {
    const res = await request(app).get('/admin/whatever').set(AUTH).expect(404);
    expect(res.body).toMatchObject({ type: 'error', error: { type: 'not_found_error' } });
  });
});
