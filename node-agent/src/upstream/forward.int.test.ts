// The forwarder's recoveries: one refresh-and-replay on an early 401, and honest failures when Anthropic cannot be reached.
import http from 'node:http';
import {
  AUTH_MESSAGES,
  createFakeAnthropic,
  fakeMessagesBody,
  freePort,
  type FakeAnthropic,
} from '@switchyard/testkit';
import { apiKeyAuth, call, closeServer, listen, oauthAuth, startNode } from '../http/test-harness.js';

let fake: FakeAnthropic;
let fakeUrl: string;

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1' }, { id: 'key-1', kind: 'api_key' }] });
  fakeUrl = await fake.start();
});

beforeEach(() => fake.reset());

afterAll(() => fake.stop());

const body = fakeMessagesBody();

describe('a 401 before the known expiry', () => {
  test('refreshes once and replays once: the client only sees the success', async () => {
    const auth = oauthAuth(fake, 'max-1');
    const node = await startNode(fakeUrl, { auth });
    try {
      const stale = auth.current().accessToken;
      fake.expireAccessToken(stale);
      const res = await call(node, { body });
      expect(res.status).toBe(200);
      expect(auth.refreshes).toEqual([stale]);
      expect(fake.requests.map((r) => [r.status, r.accessToken])).toEqual([
        [401, stale],
        [200, auth.current().accessToken],
      ]);
      expect(node.responses.map((r) => r.status)).toEqual([401, 200]);
      expect(node.log.lines.find((l) => l.message === 'request done')?.meta).toMatchObject({
        status: 200,
        replayed: true,
      });
    } finally {
      await node.close();
    }
  });

  test('a second 401 on the replay passes through, with no second refresh', async () => {
    const auth = oauthAuth(fake, 'max-1', { afterRefresh: (fresh) => fake.expireAccessToken(fresh.accessToken) });
    const node = await startNode(fakeUrl, { auth });
    try {
      fake.expireAccessToken(auth.current().accessToken);
      const res = await call(node, { body });
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body.toString())).toMatchObject({
        error: { type: 'authentication_error', message: AUTH_MESSAGES.expired },
      });
      expect(auth.refreshes).toHaveLength(1);
      expect(fake.requests).toHaveLength(2);
    } finally {
      await node.close();
    }
  });

  test('when no fresh token can be had, the original 401 passes through unchanged', async () => {
    const auth = oauthAuth(fake, 'max-1', { refreshSucceeds: false });
    const node = await startNode(fakeUrl, { auth });
    try {
      fake.expireAccessToken(auth.current().accessToken);
      const res = await call(node, { body });
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body.toString())).toEqual({
        type: 'error',
        error: { type: 'authentication_error', message: AUTH_MESSAGES.expired },
        request_id: fake.requests[0]!.requestId,
      });
      expect(res.headers['request-id']).toBe(fake.requests[0]!.requestId);
      expect(auth.refreshes).toHaveLength(1);
      expect(fake.requests).toHaveLength(1);
    } finally {
      await node.close();
    }
  });

  test('an API-key account never refreshes: its 401 passes straight through', async () => {
    const node = await startNode(fakeUrl, { auth: apiKeyAuth('not-a-known-key') });
    try {
      const res = await call(node, { body });
      expect(res.status).toBe(401);
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: { message: AUTH_MESSAGES.invalidApiKey } });
      expect(fake.requests).toHaveLength(1);
    } finally {
      await node.close();
    }
  });
});

describe('upstream failures', () => {
  test('a connection failure before any response → 502 api_error envelope', async () => {
    const node = await startNode(`http://127.0.0.1:${await freePort()}`, { auth: apiKeyAuth('k') });
    try {
      const res = await call(node, { body });
      expect(res.status).toBe(502);
      expect(JSON.parse(res.body.toString())).toMatchObject({ type: 'error', error: { type: 'api_error' } });
      expect(node.log.lines.find((l) => l.message === 'upstream request failed')?.meta).toMatchObject({
        code: 'ECONNREFUSED',
      });
    } finally {
      await node.close();
    }
  });

  test('an upstream that breaks off mid-stream breaks the client connection (never a clean end)', async () => {
    const node = await startNode(fakeUrl, { auth: oauthAuth(fake, 'max-1') });
    try {
      fake.inject({ kind: 'reset_after_bytes', bytes: 600, match: { accountId: 'max-1' } });
      await expect(call(node, { body: fakeMessagesBody({ stream: true }) })).rejects.toThrow(
        /aborted|socket hang up|ECONNRESET/,
      );
    } finally {
      await node.close();
    }
  });

  test('a pooled keep-alive socket the upstream already closed is retried once on a new connection', async () => {
    const perSocket = new WeakMap<object, number>();
    let served = 0;
    const upstream = http.createServer((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      // Each connection serves one request, then drops the next without answering, like an idle timeout racing a reuse.
      if (n > 1) return void req.socket.destroy();
      req.resume();
      served += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
    });
    const node = await startNode(await listen(upstream), { auth: apiKeyAuth('k') });
    try {
      expect((await call(node, { body })).status).toBe(200);
      expect((await call(node, { body })).status).toBe(200);
      expect(served).toBe(2);
    } finally {
      await node.close();
      await closeServer(upstream);
    }
  });

  test('a failing state callback does not fail the request', async () => {
    const node = await startNode(fakeUrl, {
      auth: oauthAuth(fake, 'max-1'),
      onUpstreamResponse: () => {
        throw new Error('state holder bug');
      },
    });
    try {
      expect((await call(node, { body })).status).toBe(200);
      expect(node.log.lines.some((l) => l.level === 'error' && l.message === 'account state update failed')).toBe(true);
    } finally {
      await node.close();
    }
  });
});
