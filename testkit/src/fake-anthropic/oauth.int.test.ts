// OAuth as a login command and a refresher see it: rotation, PKCE codes, the authorize page, profile and usage.
import { randomBytes } from 'node:crypto';
import { pkceChallenge } from './authorization-codes.js';
import { CLAUDE_CODE_CLIENT_ID, MANUAL_REDIRECT_URI, OAUTH_SCOPES } from './context.js';
import { createFakeAnthropic } from './create-fake-anthropic.js';
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages } from './test-support.js';
import type { FakeAnthropic } from './types.js';

let fake: FakeAnthropic;
let url: string;

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1', email: 'one@example.test' }, { id: 'max-2' }] });
  url = await fake.start();
});

afterAll(() => fake.stop());

interface TokenBody {
  access_token: string;
  refresh_token: string;
  expires_in: number;
  token_type: string;
  scope: string;
  organization: { uuid: string; name: string };
  account: { uuid: string; email_address: string };
  error?: string;
  error_description?: string;
}

async function postToken(body: Record<string, string>, signal?: AbortSignal) {
  const response = await fetch(`${url}/v1/oauth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  return { status: response.status, headers: response.headers, body: (await response.json()) as TokenBody };
}

const refresh = (refreshToken: string) =>
  postToken({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: CLAUDE_CODE_CLIENT_ID });

describe('refresh_token grant', () => {
  test('rotates: the new pair works, the old refresh token is dead with invalid_grant', async () => {
    const first = fake.issueRefreshToken('max-1');
    const rotated = await refresh(first);
    expect(rotated.status).toBe(200);
    expect(rotated.body).toMatchObject({
      expires_in: 28800,
      token_type: 'Bearer',
      scope: OAUTH_SCOPES,
      account: { uuid: fake.account('max-1').uuid, email_address: 'one@example.test' },
      organization: { uuid: fake.account('max-1').organizationUuid },
    });
    expect(rotated.body.access_token).toMatch(/^sk-ant-oat01-/);
    expect(rotated.body.refresh_token).toMatch(/^sk-ant-ort01-/);
    expect(rotated.body.refresh_token).not.toBe(first);

    const reused = await refresh(first);
    expect(reused.status).toBe(400);
    expect(reused.body).toEqual({ error: 'invalid_grant', error_description: 'Refresh token not found or invalid' });

    const api = await postFakeMessages(url, fakeOAuthHeaders(rotated.body.access_token), fakeMessagesBody());
    expect(api.status).toBe(200);
    expect((await refresh(rotated.body.refresh_token)).status).toBe(200);
    expect(fake.tokenRequests.map((r) => r.outcome).slice(-3)).toEqual(['ok', 'invalid_grant', 'ok']);
    expect(fake.tokenRequests.at(-2)).toMatchObject({
      grantType: 'refresh_token',
      refreshToken: first,
      remoteAddress: '127.0.0.1',
    });
  });

  test('a revoked refresh token or a wrong client_id is refused', async () => {
    const token = fake.issueRefreshToken('max-2');
    const wrongClient = await postToken({
      grant_type: 'refresh_token',
      refresh_token: token,
      client_id: 'someone-else',
    });
    expect(wrongClient.body.error).toBe('invalid_grant');
    fake.revokeRefreshToken(token);
    expect((await refresh(token)).body.error).toBe('invalid_grant');
  });
});

describe('authorization_code grant with PKCE', () => {
  function authorizeUrl(challenge: string, state: string, extra: Record<string, string> = {}): string {
    const params = new URLSearchParams({
      code: 'true',
      client_id: CLAUDE_CODE_CLIENT_ID,
      response_type: 'code',
      redirect_uri: MANUAL_REDIRECT_URI,
      scope: OAUTH_SCOPES,
      code_challenge: challenge,
      code_challenge_method: 'S256',
      state,
      ...extra,
    });
    return `${url}/oauth/authorize?${params.toString()}`;
  }

  const exchange = (code: string, verifier: string, state: string, redirectUri = MANUAL_REDIRECT_URI) =>
    postToken({
      grant_type: 'authorization_code',
      code,
      redirect_uri: redirectUri,
      client_id: CLAUDE_CODE_CLIENT_ID,
      code_verifier: verifier,
      state,
    });

  test('the authorize page shows code#state; the code redeems once, only with the right verifier', async () => {
    const verifier = randomBytes(32).toString('base64url');
    const state = randomBytes(16).toString('base64url');
    const page = await fetch(authorizeUrl(pkceChallenge(verifier), state, { account: 'max-2' }));
    expect(page.status).toBe(200);
    const [code, shownState] = (await page.text()).trim().split('#') as [string, string];
    expect(shownState).toBe(state);

    expect((await exchange(code, 'not-the-verifier', state)).body.error).toBe('invalid_grant');
    expect((await exchange(code, verifier, state, 'http://localhost:1/callback')).body.error).toBe('invalid_grant');
    const granted = await exchange(code, verifier, state);
    expect(granted.status).toBe(200);
    expect(granted.body.account.uuid).toBe(fake.account('max-2').uuid);
    expect((await refresh(granted.body.refresh_token)).status).toBe(200);
    const again = await exchange(code, verifier, state);
    expect(again.status).toBe(400);
    expect(again.body.error).toBe('invalid_grant');
  });

  test('a loopback redirect_uri gets a 302 carrying code and state; bad parameters get 400', async () => {
    const verifier = 'v'.repeat(43);
    const callback = 'http://localhost:54545/callback';
    const redirect = await fetch(authorizeUrl(pkceChallenge(verifier), 'st', { redirect_uri: callback }), {
      redirect: 'manual',
    });
    expect(redirect.status).toBe(302);
    const location = new URL(redirect.headers.get('location') ?? '');
    expect(location.origin + location.pathname).toBe(callback);
    expect(location.searchParams.get('state')).toBe('st');
    const granted = await exchange(location.searchParams.get('code') ?? '', verifier, 'st', callback);
    expect(granted.body.account.uuid).toBe(fake.account('max-1').uuid);

    expect((await fetch(authorizeUrl('c', 's', { code_challenge_method: 'plain' }))).status).toBe(400);
    expect((await fetch(authorizeUrl('c', 's', { client_id: 'other' }))).status).toBe(400);
  });

  test('a code made by the test redeems; with a zero TTL the same exchange is refused', async () => {
    const verifier = 'w'.repeat(43);
    const made = fake.createAuthorizationCode('max-2', { codeChallenge: pkceChallenge(verifier), state: 's' });
    expect((await exchange(made, verifier, 's')).status).toBe(200);
    const quick = createFakeAnthropic({ authCodeTtlSec: 0 });
    const quickUrl = await quick.start();
    try {
      const code = quick.createAuthorizationCode('acct-1', { codeChallenge: pkceChallenge(verifier), state: 's' });
      const response = await fetch(`${quickUrl}/v1/oauth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          grant_type: 'authorization_code',
          code,
          code_verifier: verifier,
          redirect_uri: MANUAL_REDIRECT_URI,
          client_id: CLAUDE_CODE_CLIENT_ID,
        }),
      });
      expect(response.status).toBe(400);
    } finally {
      await quick.stop();
    }
  });
});

describe('companion endpoints', () => {
  test('profile names the account; usage reports percentages and needs the oauth beta', async () => {
    fake.setUtilization('max-1', { fiveHour: 0.42, sevenDay: 0.07 });
    const token = fake.issueAccessToken('max-1');
    const profile = (await (
      await fetch(`${url}/api/oauth/profile`, { headers: { authorization: `Bearer ${token}` } })
    ).json()) as {
      account: { email: string; uuid: string };
    };
    expect(profile.account).toMatchObject({ email: 'one@example.test', uuid: fake.account('max-1').uuid });

    const usage = await fetch(`${url}/api/oauth/usage`, { headers: fakeOAuthHeaders(token) });
    const body = (await usage.json()) as {
      five_hour: { utilization: number; resets_at: string };
      seven_day: { utilization: number };
    };
    expect(body.five_hour.utilization).toBe(42);
    expect(body.seven_day.utilization).toBe(7);
    expect(Date.parse(body.five_hour.resets_at)).toBeGreaterThan(Date.now());

    const noBeta = await fetch(`${url}/api/oauth/usage`, { headers: { authorization: `Bearer ${token}` } });
    expect(noBeta.status).toBe(401);
    fake.expireAccessToken(token);
    expect((await fetch(`${url}/api/oauth/profile`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(
      401,
    );
  });
});

describe('token endpoint faults', () => {
  afterEach(() => fake.clearFaults());

  test('token_error answers the given status once, then the endpoint works again', async () => {
    const token = fake.issueRefreshToken('max-1');
    fake.inject({ kind: 'token_error', status: 503 });
    const failed = await refresh(token);
    expect(failed.status).toBe(503);
    expect(fake.tokenRequests.at(-1)?.outcome).toBe('fault');
    expect((await refresh(token)).status).toBe(200);

    fake.inject({ kind: 'token_error', status: 429 });
    const limited = await refresh(fake.issueRefreshToken('max-1'));
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).not.toBeNull();
  });

  test('token_invalid_grant refuses a good token without spending it', async () => {
    const token = fake.issueRefreshToken('max-1');
    fake.inject({ kind: 'token_invalid_grant', match: { accountId: 'max-1' } });
    expect((await refresh(token)).body.error).toBe('invalid_grant');
    expect((await refresh(token)).status).toBe(200);
  });

  test('token_timeout never answers; the client gives up', async () => {
    fake.inject({ kind: 'token_timeout' });
    const token = fake.issueRefreshToken('max-1');
    const body = { grant_type: 'refresh_token', refresh_token: token, client_id: CLAUDE_CODE_CLIENT_ID };
    await expect(postToken(body, AbortSignal.timeout(300))).rejects.toMatchObject({ name: 'TimeoutError' });
    expect(fake.tokenRequests.at(-1)).toMatchObject({ outcome: 'timeout', refreshToken: token });
    expect((await refresh(token)).status).toBe(200);
  });
});
