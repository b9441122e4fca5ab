// Failed admin authentications throttled per source address, through supertest against the real router on a real
// Redis with an injected clock: ten wrong tokens, then even the right one is a 429 with retry-after until the window
// ends; one warn line for the lot, never a token in the log; the OpenAPI document stays open. (Addresses other than
// loopback: auth-throttle.test.ts drives the throttle with made-up addresses.)
import { PassThrough } from 'node:stream';
import express from 'express';
import request from 'supertest';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createLogger,
  type SharedStore,
} from '@switchyard/shared';
import { testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createAdminRouter } from './admin-router.js';

const ADMIN_TOKEN = `adm-${'a'.repeat(44)}`;
const READ_TOKEN = `rd-${'r'.repeat(45)}`;
const T0 = 1_800_000_000_000;

/** A real logger writing JSON lines into memory. */
function capturedLog() {
  const stream = new PassThrough();
  const chunks: string[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c.toString('utf8')));
  const log = createLogger({ service: 'gateway-test', level: 'debug', stream });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as { level: string; message: string } & Record<string, unknown>);
  return { log, lines, text: () => chunks.join('') };
}

describe('admin authentication throttle', () => {
  let store: SharedStore;
  beforeAll(() => {
    store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
  });
  afterAll(() => store.close());

  function build(now: () => number) {
    const captured = capturedLog();
    const router = createAdminRouter({
      store,
      keys: createKeyspace(uniquePrefix('admin-throttle')),
      adminToken: ADMIN_TOKEN,
      readToken: READ_TOKEN,
      registry: { nodes: () => [] },
      log: captured.log,
      authThrottle: { now },
    });
    return { app: express().use('/admin', router), ...captured };
  }

  it('10 wrong tokens, then the right one is refused with 429 and retry-after until the window ends; one warn line', async () => {
    let clock = T0;
    const { app, lines, text } = build(() => clock);
    const wrongs: string[] = [];
    for (let i = 0; i < 10; i += 1) {
      const wrong = `guess-${String(i).padStart(2, '0')}-${'x'.repeat(40)}`;
      wrongs.push(wrong);
      await request(app)
        .get('/admin/keys')
        .set({ authorization: `Bearer ${wrong}` })
        .expect(401);
      clock += 2_000;
    }
    // 20 s into the window that opened at the first failure: 40 s left, whatever the token.
    for (const token of [ADMIN_TOKEN, READ_TOKEN, 'another-guess']) {
      const res = await request(app)
        .get('/admin/keys')
        .set({ authorization: `Bearer ${token}` })
        .expect(429);
      expect(res.headers['retry-after']).toBe('40');
      expect(res.body).toMatchObject({
        type: 'error',
        error: {
          type: 'rate_limit_error',
          message: 'Too many failed admin authentications from this address: try again in 40 s',
        },
      });
    }
    // Before the token is looked at, and before a body is read: a write with a malformed body is a 429 too.
    await request(app)
      .post('/admin/keys')
      .set({ authorization: `Bearer ${ADMIN_TOKEN}` })
      .set('content-type', 'application/json')
      .send('{"name":')
      .expect(429);
    await request(app).get('/admin/session').expect(429);
    // The document describes the API and carries no data: never throttled.
    await request(app).get('/admin/openapi.json').expect(200);

    clock = T0 + 59_500;
    const last = await request(app)
      .get('/admin/session')
      .set({ authorization: `Bearer ${ADMIN_TOKEN}` })
      .expect(429);
    expect(last.headers['retry-after']).toBe('1');
    clock = T0 + 60_000;
    await request(app)
      .get('/admin/session')
      .set({ authorization: `Bearer ${ADMIN_TOKEN}` })
      .expect(200, { role: 'admin' });

    const warns = lines().filter((l) => l.level === 'warn');
    expect(warns).toEqual([
      expect.objectContaining({
        message: 'admin authentication failures',
        ip: expect.stringMatching(/127\.0\.0\.1|::1/) as string,
        failures: 10,
        windowSeconds: 60,
      }),
    ]);
    // At most one more line (the debug line of the window's first failure); no token, right or wrong, anywhere.
    expect(lines().length).toBeLessThanOrEqual(2);
    for (const secret of [ADMIN_TOKEN, READ_TOKEN, ...wrongs]) expect(text()).not.toContain(secret);
  });

  it('counts only wrong tokens: no token at all, and the read-only token refused a write, are not guesses', async () => {
    const { app, lines } = build(() => T0);
    for (let i = 0; i < 15; i += 1) {
      await request(app).get('/admin/keys').expect(401);
      await request(app)
        .post('/admin/keys')
        .set({ authorization: `Bearer ${READ_TOKEN}` })
        .send({ name: 'x' })
        .expect(403);
    }
    for (let i = 0; i < 9; i += 1)
      await request(app).get('/admin/keys').set({ authorization: 'Bearer wrong' }).expect(401);
    await request(app)
      .get('/admin/keys')
      .set({ authorization: `Bearer ${ADMIN_TOKEN}` })
      .expect(200);
    expect(lines().filter((l) => l.level === 'warn')).toEqual([]);
    await request(app).get('/admin/keys').set({ authorization: 'Bearer wrong' }).expect(401);
    await request(app)
      .get('/admin/keys')
      .set({ authorization: `Bearer ${ADMIN_TOKEN}` })
      .expect(429);
  });
});
