// Only the gateway may use a node; refused requests never reach Anthropic. Plus the node's own answers: 404, 413, 503, /health.
import http from 'node:http';
import { newRequestId } from '@switchyard/shared';
import { createFakeAnthropic, fakeMessagesBody, type FakeAnthropic } from '@switchyard/shared/testing';
import { call, needsLoginAuth, oauthAuth, signedHeaders, startNode, TEST_SECRET, type CallResult, type TestNode } from './test-harness.js';

// Asymmetric matchers are typed any; naming them keeps the assertions typed.
const anyNumber: unknown = expect.any(Number);
const mentionsLogin: unknown = expect.stringMatching(/login/);

let fake: FakeAnthropic;
let fakeUrl: string;
let node: TestNode;

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1' }] });
  fakeUrl = await fake.start();
  node = await startNode(fakeUrl, { auth: oauthAuth(fake, 'max-1'), maxBodyBytes: 4096 });
});

beforeEach(() => fake.reset());

afterAll(async () => {
  await node.close();
  await fake.stop();
});

function envelope(res: CallResult): { type: string; error: { type: string; message: string }; request_id?: string } {
  return JSON.parse(res.body.toString()) as { type: string; error: { type: string; message: string }; request_id?: string };
}

const body = Buffer.from(JSON.stringify(fakeMessagesBody()));

test('a signed request goes through', async () => {
  const res = await call(node.url, { body });
  expect(res.status).toBe(200);
  expect(fake.requests).toHaveLength(1);
});

describe('refused signatures never reach upstream', () => {
  const cases: [string, () => Promise<CallResult>, string][] = [
    ['unsigned', () => call(node.url, { body, sign: false }), 'missing'],
    ['a stale timestamp (61 s old)', () => call(node.url, { body, sign: { timestampMs: Date.now() - 61_000 } }), 'stale'],
    ['a timestamp from the future (61 s ahead)', () => call(node.url, { body, sign: { timestampMs: Date.now() + 61_000 } }), 'stale'],
    ['signed for another node', () => call(node.url, { body, sign: { nodeId: 'node-other' } }), 'wrong_node'],
    ['a tampered body', () => call(node.url, { body, sendBody: Buffer.from(body.toString().replace('Say hi', 'Say yo')) }), 'bad_signature'],
    ['a tampered query', () => call(node.url, { body, path: '/v1/messages?beta=true', sign: { path: '/v1/messages' } }), 'bad_signature'],
    ['a signature of the wrong length', () => call(node.url, { body }, { ...signedHeaders({}, body), 'x-switchyard-signature': 'abcd' }), 'malformed'],
    ['a signature made with another secret', () => call(node.url, { body }, { ...signedHeaders({}, body), 'x-switchyard-signature': 'f'.repeat(64) }), 'bad_signature'],
  ];

  test.each(cases)('%s → 401, logged with its reason', async (_name, send, reason) => {
    const res = await send();
    expect(res.status).toBe(401);
    expect(envelope(res)).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    expect(res.headers['request-id']).toMatch(/\S/);
    expect(fake.requests).toHaveLength(0);
    expect(node.log.lines.filter((l) => l.level === 'warn').at(-1)).toMatchObject({ message: 'gateway signature refused', meta: { reason } });
  });

  test('an unsigned request is refused before its body is read (401, not 413)', async () => {
    const res = await call(node.url, { body: Buffer.alloc(5000, 'a'), sign: false });
    expect(res.status).toBe(401);
    expect(fake.requests).toHaveLength(0);
  });

  test('a replayed request → 401 the second time', async () => {
    const signed = signedHeaders({}, body);
    expect((await call(node.url, { body }, signed)).status).toBe(200);
    const again = await call(node.url, { body }, signed);
    expect(again.status).toBe(401);
    expect(again.headers['request-id']).toBe(signed['x-switchyard-request-id']);
    expect(fake.requests).toHaveLength(1);
  });

  test('no log line carries a signature or the shared secret', () => {
    const text = JSON.stringify(node.log.lines);
    expect(text).not.toMatch(/[0-9a-f]{64}/);
    expect(text).not.toContain(TEST_SECRET);
  });
});

test('unknown routes and methods → 404 envelope, without a signature check or upstream traffic', async () => {
  for (const [method, path] of [['GET', '/v1/messages'], ['POST', '/v1/complete'], ['GET', '/'], ['DELETE', '/v1/models'], ['POST', '/v1/messages/batches']] as const) {
    const res = await call(node.url, { method, path, sign: false });
    expect([method, path, res.status]).toEqual([method, path, 404]);
    expect(envelope(res).error.type).toBe('not_found_error');
    expect(res.headers['request-id']).toMatch(/^req_/);
  }
  expect(fake.requests).toHaveLength(0);
});

test('/health answers unsigned, with no secret in it', async () => {
  const res = await call(node.url, { method: 'GET', path: '/health', sign: false });
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body.toString())).toEqual({ status: 'ok', nodeId: 'node-test-1' });
  expect(fake.requests).toHaveLength(0);
});

describe('bodies over maxBodyBytes → 413 without reaching upstream', () => {
  const big = Buffer.alloc(4097, 'a');

  test('declared by content-length', async () => {
    const res = await call(node.url, { body: big });
    expect(res.status).toBe(413);
    expect(envelope(res).error.type).toBe('request_too_large');
  });

  test('sent chunked, without a length', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${node.url}/v1/messages`, { method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked', ...signedHeaders({}, big) } }, (r) => {
        r.resume();
        resolve(r.statusCode ?? 0);
      });
      req.on('error', reject);
      req.write(big.subarray(0, 3000));
      setTimeout(() => req.end(big.subarray(3000)), 20);
    });
    expect(res).toBe(413);
  });

  afterEach(() => expect(fake.requests).toHaveLength(0));
});

test('a draining node answers 503 (so the gateway fails over), says draining on /health, and forwards nothing', async () => {
  const draining = await startNode(fakeUrl, { auth: oauthAuth(fake, 'max-1') });
  try {
    draining.gate.close();
    const res = await call(draining.url, { body });
    expect(res.status).toBe(503);
    expect(envelope(res).error.type).toBe('overloaded_error');
    const health = await call(draining.url, { method: 'GET', path: '/health', sign: false });
    expect(health.status).toBe(503);
    expect(JSON.parse(health.body.toString())).toEqual({ status: 'draining', nodeId: 'node-test-1' });
    expect(fake.requests).toHaveLength(0);
  } finally {
    await draining.close();
  }
});

test('an account that needs a login answers 503 without upstream traffic', async () => {
  const stuck = await startNode(fakeUrl, { auth: needsLoginAuth() });
  try {
    const requestId = newRequestId();
    const res = await call(stuck.url, { body, sign: { requestId } });
    expect(res.status).toBe(503);
    expect(envelope(res)).toEqual({ type: 'error', error: { type: 'api_error', message: mentionsLogin }, request_id: requestId });
    expect(res.headers['request-id']).toBe(requestId);
    expect(fake.requests).toHaveLength(0);
  } finally {
    await stuck.close();
  }
});

test('every admitted request leaves the gate exactly once and logs one line with its fields', async () => {
  const before = { entered: node.gate.entered, left: node.gate.left, lines: node.log.lines.length };
  const requestId = newRequestId();
  await call(node.url, { body, path: '/v1/messages?beta=true&secret=1', sign: { requestId } });
  await call(node.url, { body, sign: false });
  await call(node.url, { body: Buffer.alloc(5000) });
  await new Promise((r) => setTimeout(r, 20));
  expect(node.gate.entered - before.entered).toBe(3);
  expect(node.gate.left - before.left).toBe(3);
  const done = node.log.lines.slice(before.lines).filter((l) => l.message === 'request done');
  expect(done.map((l) => l.meta.status)).toEqual([200, 401, 413]);
  expect(done[0]).toMatchObject({
    level: 'info',
    meta: { requestId, keyId: 'key_test', method: 'POST', path: '/v1/messages', replayed: false, aborted: false, bytes: anyNumber, durationMs: anyNumber, ttfbMs: anyNumber },
  });
  expect(done[0]!.meta.bytes).toBeGreaterThan(0);
});
