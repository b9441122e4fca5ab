// Only the tunnel reaches the forwarding app: the node's own listener serves /health (and /metrics) and nothing
// that reaches Anthropic. Plus the forwarding app's own answers: 404, 413, 503, and its access log.
import http from 'node:http';
import { newRequestId } from '@switchyard/shared';
import { createFakeAnthropic, fakeMessagesBody, type FakeAnthropic, waitFor } from '@switchyard/testkit';
import {
  call,
  needsLoginAuth,
  oauthAuth,
  startNode,
  TEST_NODE_TOKEN,
  viaTunnel,
  type CallResult,
  type TestNode,
} from './test-harness.js';

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
  return JSON.parse(res.body.toString()) as {
    type: string;
    error: { type: string; message: string };
    request_id?: string;
  };
}

const body = Buffer.from(JSON.stringify(fakeMessagesBody()));

test('a request through the tunnel goes through', async () => {
  const res = await call(node, { body });
  expect(res.status).toBe(200);
  expect(fake.requests).toHaveLength(1);
});

test('the local listener has no forwarding route: every Anthropic path is a 404 there, and nothing reaches upstream', async () => {
  for (const [method, path] of [
    ['POST', '/v1/messages'],
    ['POST', '/v1/messages/count_tokens'],
    ['GET', '/v1/models'],
    ['POST', '/v1/messages?beta=true'],
  ] as const) {
    const res = await call(node.url, { method, path, body: method === 'POST' ? body : undefined });
    expect([method, path, res.status]).toEqual([method, path, 404]);
    expect(envelope(res).error.type).toBe('not_found_error');
  }
  expect(fake.requests).toHaveLength(0);
});

test('unknown routes and methods through the tunnel → 404 envelope, without upstream traffic (health is not served there)', async () => {
  for (const [method, path] of [
    ['GET', '/v1/messages'],
    ['POST', '/v1/complete'],
    ['GET', '/'],
    ['DELETE', '/v1/models'],
    ['POST', '/v1/messages/batches'],
    ['GET', '/health'],
    ['GET', '/metrics'],
  ] as const) {
    const res = await call(node, { method, path });
    expect([method, path, res.status]).toEqual([method, path, 404]);
    expect(envelope(res).error.type).toBe('not_found_error');
    expect(res.headers['request-id']).toMatch(/^req_/);
  }
  expect(fake.requests).toHaveLength(0);
});

test('/health answers on the local listener, with no secret in it', async () => {
  const res = await call(node.url, { method: 'GET', path: '/health' });
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body.toString())).toEqual({ status: 'ok', nodeId: 'node-test-1' });
  expect(res.body.toString()).not.toContain(TEST_NODE_TOKEN);
  expect(fake.requests).toHaveLength(0);
});

describe('bodies over maxBodyBytes → 413 without reaching upstream', () => {
  const big = Buffer.alloc(4097, 'a');

  test('declared by content-length', async () => {
    const res = await call(node, { body: big });
    expect(res.status).toBe(413);
    expect(envelope(res).error.type).toBe('request_too_large');
  });

  test('sent chunked, without a length', async () => {
    const res = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        'http://node.tunnel/v1/messages',
        { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, ...viaTunnel(node) },
        (r) => {
          r.resume();
          resolve(r.statusCode ?? 0);
        },
      );
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
    const res = await call(draining, { body });
    expect(res.status).toBe(503);
    expect(envelope(res).error.type).toBe('overloaded_error');
    const health = await call(draining.url, { method: 'GET', path: '/health' });
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
    const res = await call(stuck, { body, requestId });
    expect(res.status).toBe(503);
    expect(envelope(res)).toEqual({
      type: 'error',
      error: { type: 'api_error', message: mentionsLogin },
      request_id: requestId,
    });
    expect(res.headers['request-id']).toBe(requestId);
    expect(fake.requests).toHaveLength(0);
  } finally {
    await stuck.close();
  }
});

test('every admitted request leaves the gate exactly once and logs one line with the gateway request id and key id', async () => {
  const before = { entered: node.gate.entered, left: node.gate.left, lines: node.log.lines.length };
  const requestId = newRequestId();
  await call(node, { body, path: '/v1/messages?beta=true&secret=1', requestId, keyId: 'key_abc' });
  await call(node, { body: Buffer.alloc(5000) });
  // An id the gateway would never send (spaces, too long) is not trusted into the log: a fresh one replaces it.
  await call(node, { body, requestId: 'not an id', keyId: 'k'.repeat(200) });
  // The gate is left and the line written as each request ends on the node, which may follow what the client saw.
  const done = await waitFor('three requests done', () => {
    const lines = node.log.lines.slice(before.lines).filter((l) => l.message === 'request done');
    return lines.length >= 3 && node.gate.left - before.left >= 3 && lines;
  });
  expect(node.gate.entered - before.entered).toBe(3);
  expect(node.gate.left - before.left).toBe(3);
  expect(done.map((l) => l.meta.status)).toEqual([200, 413, 200]);
  expect(done[0]).toMatchObject({
    level: 'info',
    meta: {
      requestId,
      keyId: 'key_abc',
      method: 'POST',
      path: '/v1/messages',
      replayed: false,
      aborted: false,
      bytes: anyNumber,
      durationMs: anyNumber,
      ttfbMs: anyNumber,
    },
  });
  expect(done[0]!.meta.bytes).toBeGreaterThan(0);
  expect(done[2]!.meta.requestId).toMatch(/^req_/);
  expect(done[2]!.meta.keyId).toBeUndefined();
});

test('no log line carries the node token', () => {
  expect(JSON.stringify(node.log.lines)).not.toContain(TEST_NODE_TOKEN);
});
