// The sealed credential copy's routes on a real Redis through supertest: a node reads and writes only its own copy,
// with its own token; user keys, the admin token and other nodes' tokens are refused; the stored value is ciphertext
// that does not open without the node's token; bad bodies are refused; nothing secret reaches a log line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import express from 'express';
import request from 'supertest';
import type { Redis } from 'ioredis';
import {
  CREDENTIAL_PATH,
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createLogger,
  NodeTokens,
  openForNode,
  SealError,
  sealForNode,
  TunnelHeaders,
  type SharedStore,
} from '@switchyard/shared';
import { scanKeys, startRedisServer, testRedisUrl, uniquePrefix, waitFor } from '@switchyard/testkit';
import { createKeyRepository } from '../keys/index.js';
import { createCredentialRoutes } from './credential-routes.js';
import { createEnrolmentRepository, type EnrolmentRepository } from './enrolment.js';

const RECORD = JSON.stringify({
  type: 'oauth',
  refresh: 'fake-refresh-1',
  access: 'fake-access-1',
  expires: 1_900_000_000_000,
});
const ADMIN_TOKEN = `admin-${'b'.repeat(40)}`;

function capturedLog() {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  return { log: createLogger({ service: 'gateway-test', level: 'debug', stream }), text: () => chunks.join('') };
}

const as = (nodeId: string, token: string) => ({ authorization: `Bearer ${token}`, [TunnelHeaders.nodeId]: nodeId });

describe('sealed credential routes', () => {
  const prefix = uniquePrefix('cred-routes');
  const keys = createKeyspace(prefix);
  let client: Redis;
  let store: SharedStore;
  let enrolments: EnrolmentRepository;
  let captured: ReturnType<typeof capturedLog>;
  let app: express.Express;
  let tokenA: string;
  let tokenB: string;

  beforeAll(() => {
    client = createIoRedisClient(testRedisUrl());
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
    enrolments = createEnrolmentRepository({ store, keys });
  });

  beforeEach(async () => {
    captured = capturedLog();
    app = express();
    app.use(createCredentialRoutes({ store, keys, enrolments, log: captured.log }));
    app.use((_req, res) => res.status(418).end());
    tokenA = (await enrolments.create('node-a'))!.token;
    tokenB = (await enrolments.create('node-b'))!.token;
  });

  afterEach(async () => {
    const left = await scanKeys(client, prefix);
    if (left.length > 0) await client.del(...left);
    // Neither a token nor a sealed value ever reaches a log line.
    expect(captured.text()).not.toContain(tokenA);
    expect(captured.text()).not.toContain(tokenB);
    expect(captured.text()).not.toContain('sy1.');
  });

  afterAll(async () => {
    await store.close();
    await client.quit();
  });

  const put = (nodeId: string, token: string, body: unknown) =>
    request(app)
      .put(CREDENTIAL_PATH)
      .set(as(nodeId, token))
      .send(body as object);
  const get = (nodeId: string, token: string) => request(app).get(CREDENTIAL_PATH).set(as(nodeId, token));

  it('GET before any PUT is 404; PUT stores the ciphertext (204) and GET returns it, not cacheable', async () => {
    await get('node-a', tokenA).expect(404);
    const sealed = sealForNode(tokenA, 'node-a', RECORD);
    const res = await put('node-a', tokenA, { sealed }).expect(204);
    expect(res.text).toBe('');
    expect(await store.get(keys.sealedCredential('node-a'))).toBe(sealed);
    const back = await get('node-a', tokenA).expect(200);
    expect(back.body).toEqual({ sealed });
    expect(back.headers['cache-control']).toBe('no-store');
    expect(openForNode(tokenA, 'node-a', (back.body as { sealed: string }).sealed)).toBe(RECORD);
    // A later PUT replaces it.
    const newer = sealForNode(tokenA, 'node-a', RECORD.replace('fake-refresh-1', 'fake-refresh-2'));
    await put('node-a', tokenA, { sealed: newer }).expect(204);
    expect((await get('node-a', tokenA).expect(200)).body).toEqual({ sealed: newer });
  });

  it('the stored value does not open without the token: not with another token, not under another node id', async () => {
    await put('node-a', tokenA, { sealed: sealForNode(tokenA, 'node-a', RECORD) }).expect(204);
    const stored = (await store.get(keys.sealedCredential('node-a')))!;
    expect(stored).not.toContain('fake-refresh-1');
    expect(Buffer.from(stored.slice(4), 'base64url').toString('latin1')).not.toContain('fake-refresh-1');
    expect(() => openForNode(tokenB, 'node-a', stored)).toThrow(SealError);
    expect(() => openForNode(NodeTokens.generate(), 'node-a', stored)).toThrow(SealError);
    expect(() => openForNode(tokenA, 'node-b', stored)).toThrow(SealError);
    expect(openForNode(tokenA, 'node-a', stored)).toBe(RECORD);
  });

  it("another node's token cannot read or write my copy; each node sees only its own", async () => {
    const mine = sealForNode(tokenA, 'node-a', RECORD);
    await put('node-a', tokenA, { sealed: mine }).expect(204);

    const read = await get('node-a', tokenB).expect(401);
    expect(read.body).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    expect(JSON.stringify(read.body)).not.toContain(mine);
    await put('node-a', tokenB, { sealed: sealForNode(tokenB, 'node-a', RECORD) }).expect(401);
    expect(await store.get(keys.sealedCredential('node-a'))).toBe(mine);

    // node-b with its own id gets its own (absent) copy, and its PUT lands under its own key only.
    await get('node-b', tokenB).expect(404);
    const theirs = sealForNode(tokenB, 'node-b', RECORD);
    await put('node-b', tokenB, { sealed: theirs }).expect(204);
    expect((await get('node-a', tokenA).expect(200)).body).toEqual({ sealed: mine });
    expect((await get('node-b', tokenB).expect(200)).body).toEqual({ sealed: theirs });
    const lines = captured
      .text()
      .split('\n')
      .filter((l) => l.includes('node credential request refused'));
    expect(lines.length).toBeGreaterThanOrEqual(2);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', reason: 'unauthenticated', nodeId: 'node-a' });
  });

  it('a user key, the admin token, no header, a bare token without node id and an unknown node are refused with the 401 envelope', async () => {
    const userKey = (
      await createKeyRepository({ store, keys }).create({
        name: 'alice',
        enabled: true,
        expiresAt: null,
        allowedModels: null,
        allowedBetas: null,
        rpm: null,
        concurrency: null,
        dailyTokenBudget: null,
      })
    ).key;
    await put('node-a', tokenA, { sealed: sealForNode(tokenA, 'node-a', RECORD) }).expect(204);
    const attempts = [
      as('node-a', userKey),
      as('node-a', ADMIN_TOKEN),
      { authorization: `Bearer ${tokenA}` },
      { [TunnelHeaders.nodeId]: 'node-a' },
      {},
      as('node-z', NodeTokens.generate()),
      { authorization: `Basic ${tokenA}`, [TunnelHeaders.nodeId]: 'node-a' },
    ];
    for (const headers of attempts) {
      const res = await request(app).get(CREDENTIAL_PATH).set(headers).expect(401);
      expect(res.body).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
      expect(res.headers['request-id']).toEqual(expect.any(String));
      await request(app).put(CREDENTIAL_PATH).set(headers).send({ sealed: 'sy1.AAAA' }).expect(401);
    }
    expect(await store.get(keys.sealedCredential('node-z'))).toBeNull();
    expect(captured.text()).not.toContain(userKey);
  });

  it('a revoked node is refused and its copy is gone; after a rotation only the new token passes', async () => {
    await put('node-a', tokenA, { sealed: sealForNode(tokenA, 'node-a', RECORD) }).expect(204);
    const rotated = (await enrolments.rotate('node-a'))!.token;
    await get('node-a', tokenA).expect(401);
    await get('node-a', rotated).expect(200);

    await enrolments.revoke('node-a');
    await get('node-a', rotated).expect(401);
    await put('node-a', rotated, { sealed: sealForNode(rotated, 'node-a', RECORD) }).expect(401);
    expect(await store.get(keys.sealedCredential('node-a'))).toBeNull();
  });

  it('bad bodies are refused with 400 (or 413) and store nothing', async () => {
    const cases: [string, () => request.Test, number][] = [
      ['not sealed', () => put('node-a', tokenA, { sealed: RECORD }), 400],
      ['no sealed field', () => put('node-a', tokenA, { value: 'sy1.AAAA' }), 400],
      ['a number', () => put('node-a', tokenA, { sealed: 42 }), 400],
      ['no body', () => request(app).put(CREDENTIAL_PATH).set(as('node-a', tokenA)), 400],
      [
        'not JSON',
        () =>
          request(app)
            .put(CREDENTIAL_PATH)
            .set(as('node-a', tokenA))
            .set('content-type', 'application/json')
            .send('{"sealed":'),
        400,
      ],
      ['over the sealed limit', () => put('node-a', tokenA, { sealed: `sy1.${'A'.repeat(20_000)}` }), 400],
      ['over the body limit', () => put('node-a', tokenA, { sealed: `sy1.${'A'.repeat(40_000)}` }), 413],
    ];
    for (const [label, send, status] of cases) {
      const res = await send();
      expect([label, res.status]).toEqual([label, status]);
      expect(res.body).toMatchObject({ type: 'error' });
    }
    expect(await store.get(keys.sealedCredential('node-a'))).toBeNull();
  });

  it('other paths pass through untouched', async () => {
    await request(app).get('/v1/messages').expect(418);
    await request(app).post(`${CREDENTIAL_PATH}/other`).set(as('node-a', tokenA)).expect(418);
  });
});

test('Redis unreachable: 503 (retryable) rather than a refusal, one error line without the token; served again once it is back', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'sy-cred-routes-'));
  let redis = await startRedisServer({ dataDir });
  const keys = createKeyspace(uniquePrefix('cred-routes-down'));
  const store = createIoRedisStore(createIoRedisClient(redis.url));
  const captured = capturedLog();
  try {
    const enrolments = createEnrolmentRepository({ store, keys });
    const { token } = (await enrolments.create('node-a'))!;
    const app = express().use(createCredentialRoutes({ store, keys, enrolments, log: captured.log }));
    await redis.stop();
    const res = await request(app).get(CREDENTIAL_PATH).set(as('node-a', token));
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBe('1');
    expect(captured.text()).toContain('node credential request failed');
    expect(captured.text()).not.toContain(token);

    redis = await startRedisServer({ port: redis.port, dataDir });
    const status = await waitFor(
      'the credential route to answer again once Redis is back',
      async () => {
        const answered = (await request(app).get(CREDENTIAL_PATH).set(as('node-a', token))).status;
        return answered !== 503 && answered;
      },
      15_000,
    );
    expect(status).toBe(404);
  } finally {
    await store.close();
    await redis.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 30_000);
