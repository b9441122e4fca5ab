// The token endpoint client against the fake upstream and a scripted server: bodies, classification, egress.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { withDeadline } from '@switchyard/shared';
import { createFakeAnthropic, freePort, type FakeAnthropic } from '@switchyard/testkit';
import { createEgress, type Egress } from '../upstream/egress.js';
import { createOAuthClient } from './oauth-client.js';

const CLIENT_ID = '9d1c250a-e61b-44d9-88ed-5944d1962f5e';
const NOW = 1_800_000_000_000;

let fake: FakeAnthropic;
let egress: Egress;

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1', email: 'max@example.test' }] });
  await fake.start();
  egress = createEgress();
});
afterAll(async () => {
  egress.destroy();
  await fake.stop();
});

const fakeClient = (e: Egress = egress) =>
  createOAuthClient({
    egress: e,
    tokenUrl: new URL(`${fake.url}/v1/oauth/token`),
    clientId: CLIENT_ID,
    profileUrl: new URL(`${fake.url}/api/oauth/profile`),
    now: () => NOW,
  });

/** A server answering each request with the next scripted reply, recording what it received. */
async function scripted(
  replies: { status: number; body?: unknown; headers?: Record<string, string>; hang?: boolean }[],
) {
  const received: { method?: string; contentType?: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        method: req.method,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const reply = replies.shift() ?? { status: 500 };
      if (reply.hang) return;
      res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
      res.end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const client = createOAuthClient({
    egress,
    tokenUrl: new URL(`http://127.0.0.1:${port}/v1/oauth/token`),
    clientId: CLIENT_ID,
    timeoutMs: 300,
    now: () => NOW,
  });
  const close = () => {
    server.closeAllConnections();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return { client, received, close };
}

describe('refresh', () => {
  test('rotates against the fake: new pair, expiry from expires_in, the account email; JSON body as docs/ANTHROPIC.md §1', async () => {
    const refreshToken = fake.issueRefreshToken('max-1');
    const result = await fakeClient().refresh(refreshToken);
    expect(result).toMatchObject({ kind: 'ok', email: 'max@example.test', accountUuid: fake.account('max-1').uuid });
    if (result.kind !== 'ok') throw new Error('unreachable');
    expect(result.credential.expires).toBe(NOW + 28_800_000);
    expect(result.credential.refresh).not.toBe(refreshToken);
    expect(fake.tokenRequests.at(-1)).toMatchObject({
      grantType: 'refresh_token',
      refreshToken,
      clientId: CLIENT_ID,
      outcome: 'ok',
    });
  });

  test('a dead refresh token is invalid_grant', async () => {
    const refreshToken = fake.issueRefreshToken('max-1');
    fake.revokeRefreshToken(refreshToken);
    expect(await fakeClient().refresh(refreshToken)).toEqual({ kind: 'invalid_grant' });
  });

  test('sends exactly {grant_type, refresh_token, client_id} as JSON, and keeps the old refresh token when the answer has none', async () => {
    const s = await scripted([{ status: 200, body: { access_token: 'a-2', expires_in: 60, token_type: 'Bearer' } }]);
    try {
      const result = await s.client.refresh('r-1');
      expect(result).toEqual({
        kind: 'ok',
        credential: { type: 'oauth', refresh: 'r-1', access: 'a-2', expires: NOW + 60_000 },
      });
      expect(s.received[0]?.contentType).toBe('application/json');
      expect(JSON.parse(s.received[0]?.body ?? '')).toEqual({
        grant_type: 'refresh_token',
        refresh_token: 'r-1',
        client_id: CLIENT_ID,
      });
    } finally {
      await s.close();
    }
  });

  test('classifies by status and error code only', async () => {
    const s = await scripted([
      { status: 503, body: { type: 'error', error: { type: 'api_error', message: 'invalid_grant' } } },
      { status: 429, body: {}, headers: { 'retry-after': '30' } },
      { status: 400, body: { error: 'invalid_request', error_description: 'invalid_grant mentioned in text' } },
      { status: 401, body: { error: 'invalid_client' } },
      { status: 403 },
      { status: 200, body: { unexpected: true } },
      { status: 400, body: { error: 'invalid_grant' } },
    ]);
    try {
      const results = [];
      for (let i = 0; i < 7; i++) results.push(await s.client.refresh('r-1'));
      expect(results).toEqual([
        { kind: 'transient', status: 503, reason: 'status' },
        { kind: 'transient', status: 429, reason: 'status', retryAfterMs: 30_000 },
        { kind: 'rejected', status: 400, error: 'invalid_request' },
        { kind: 'rejected', status: 401, error: 'invalid_client' },
        { kind: 'rejected', status: 403 },
        { kind: 'transient', status: 200, reason: 'malformed' },
        { kind: 'invalid_grant' },
      ]);
    } finally {
      await s.close();
    }
  });

  test('a silent endpoint is a transient timeout, a closed port a transient network error', async () => {
    const s = await scripted([{ status: 200, hang: true }]);
    try {
      // The client's 300 ms timeout, not the 30 s default: the limit is far above one and far below the other.
      expect(await withDeadline(s.client.refresh('r-1'), 10_000, 'refresh against a silent endpoint')).toEqual({
        kind: 'transient',
        reason: 'timeout',
      });
    } finally {
      await s.close();
    }
    const port = await freePort();
    const closed = createOAuthClient({ egress, tokenUrl: new URL(`http://127.0.0.1:${port}/t`), clientId: CLIENT_ID });
    expect(await closed.refresh('r-1')).toEqual({ kind: 'transient', reason: 'network' });
  });

  test('token traffic leaves through the egress: EGRESS_LOCAL_ADDRESS=127.0.0.2 is what the endpoint sees', async () => {
    const bound = createEgress({ localAddress: '127.0.0.2' });
    try {
      const result = await fakeClient(bound).refresh(fake.issueRefreshToken('max-1'));
      expect(result.kind).toBe('ok');
      expect(fake.tokenRequests.at(-1)?.remoteAddress).toBe('127.0.0.2');
    } finally {
      bound.destroy();
    }
  });
});

describe('exchangeCode and profile', () => {
  test('sends the authorization_code body of docs/ANTHROPIC.md §1', async () => {
    const s = await scripted([
      {
        status: 200,
        body: {
          access_token: 'a',
          refresh_token: 'r',
          expires_in: 10,
          account: { email_address: 'e@x.test', uuid: 'u-1' },
        },
      },
    ]);
    try {
      const result = await s.client.exchangeCode({
        code: 'c-1',
        verifier: 'v-1',
        state: 's-1',
        redirectUri: 'https://cb.example/x',
      });
      expect(result).toEqual({
        kind: 'ok',
        credential: { type: 'oauth', refresh: 'r', access: 'a', expires: NOW + 10_000 },
        email: 'e@x.test',
        accountUuid: 'u-1',
      });
      expect(JSON.parse(s.received[0]?.body ?? '')).toEqual({
        grant_type: 'authorization_code',
        code: 'c-1',
        redirect_uri: 'https://cb.example/x',
        client_id: CLIENT_ID,
        code_verifier: 'v-1',
        state: 's-1',
      });
    } finally {
      await s.close();
    }
  });

  test('profile gives the email of an access token, and undefined when it cannot', async () => {
    const client = fakeClient();
    expect(await client.profile(fake.issueAccessToken('max-1'))).toEqual({
      email: 'max@example.test',
      accountUuid: fake.account('max-1').uuid,
    });
    expect(await client.profile('not-a-token')).toBeUndefined();
  });
});
