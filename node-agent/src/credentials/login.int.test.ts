// The login flow end to end against the fake's GET /oauth/authorize and token endpoint, storing into the real Redis.
import { stat } from 'node:fs/promises';
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages } from '@switchyard/shared/testing';
import { createAccountAuth } from './create-account-auth.js';
import { createCredentialFile } from './credential-file.js';
import { LoginError, runLogin, type LoginIO } from './login.js';
import { serializeCredential, tryParseCredential } from './oauth-credential.js';
import { createHarness, leakedTokens, tokensSeenByFake, waitFor, type Harness } from './test-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await createHarness({ label: 'login', fake: { accounts: [{ id: 'max-1', email: 'max@example.test' }] } });
});
afterEach(() => h.cleanup());

const loginConfig = () => ({
  ...h.config(),
  OAUTH_AUTHORIZE_URL: `${h.url}/oauth/authorize`,
  OAUTH_REDIRECT_URI: 'https://platform.claude.com/oauth/code/callback',
});

/** A terminal that "opens" the printed URL (the fake approves at once and shows code#state) and pastes `answer(shown)`. */
function browserIO(answer: (shown: string) => string = (s) => s): LoginIO & { printed: string[]; shown: string[] } {
  const printed: string[] = [];
  const shown: string[] = [];
  return {
    printed,
    shown,
    print: (line) => printed.push(line),
    async readLine() {
      const url = printed.find((l) => l.startsWith(h.url));
      if (!url) throw new Error('no authorize URL printed');
      const res = await fetch(url);
      const text = (await res.text()).trim();
      shown.push(text);
      return answer(text);
    },
  };
}

const login = (io: LoginIO) => runLogin({ config: loginConfig(), store: h.store, keys: h.keys, egress: h.egress, io });

test('prints the authorize URL, exchanges the pasted code#state, stores the credential and prints the email', async () => {
  const io = browserIO();
  const result = await login(io);
  expect(result).toEqual({ email: 'max@example.test' });
  expect(io.printed.at(-1)).toContain('max@example.test');

  const authorize = new URL(io.printed.find((l) => l.startsWith(h.url)) ?? '');
  const [, state] = (io.shown[0] ?? '').split('#');
  expect(authorize.searchParams.get('state')).toBe(state);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  expect(h.fake.tokenRequests.map((r) => [r.grantType, r.outcome])).toEqual([['authorization_code', 'ok']]);

  const stored = tryParseCredential(await h.store.get(h.keys.cred(h.nodeId)));
  expect(stored).toBeDefined();
  const res = await postFakeMessages(h.url, fakeOAuthHeaders(stored?.access ?? ''), fakeMessagesBody());
  expect(res.status).toBe(200);
  const mirror = createCredentialFile(h.config().CREDENTIALS_DIR, h.nodeId);
  expect(await mirror.read()).toEqual(stored);
  expect((await stat(mirror.path)).mode & 0o777).toBe(0o600);
  expect(leakedTokens(io.printed, [stored?.access ?? '', stored?.refresh ?? ''])).toEqual([]);
});

test.each([
  ['a wrong code', (shown: string) => `not-a-code#${shown.split('#')[1] ?? ''}`, 'code_rejected', /refused: it is wrong, expired or already used/],
  ['a state mismatch', (shown: string) => `${shown.split('#')[0] ?? ''}#someone-elses-state`, 'state_mismatch', /state mismatch/],
  ['an empty paste', () => '  ', 'empty_code', /No code was pasted/],
])('%s gives a clear one-line message and stores nothing', async (_label, paste, code, message) => {
  const err = (await login(browserIO(paste)).catch((e: unknown) => e)) as LoginError;
  expect(err).toBeInstanceOf(LoginError);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  expect(err.message).not.toContain('\n');
  expect(await h.store.get(h.keys.cred(h.nodeId))).toBeNull();
  if (code !== 'code_rejected') expect(h.fake.tokenRequests).toHaveLength(0);
});

test('an expired code gets the same clear message', async () => {
  await h.cleanup();
  h = await createHarness({ label: 'login', fake: { accounts: [{ id: 'max-1' }], authCodeTtlSec: 0 } });
  const err = (await login(browserIO()).catch((e: unknown) => e)) as LoginError;
  expect(err).toBeInstanceOf(LoginError);
  expect(err.code).toBe('code_rejected');
  expect(err.message).toMatch(/expired/);
  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['invalid_grant']);
  expect(await h.store.get(h.keys.cred(h.nodeId))).toBeNull();
});

test('a running node waiting in needs_login picks up the new login by itself', async () => {
  const dead = h.fake.issueOAuthCredentials('max-1');
  h.fake.revokeRefreshToken(dead.refreshToken);
  h.fake.expireAccessToken(dead.accessToken);
  await h.store.set(h.keys.cred(h.nodeId), serializeCredential({ type: 'oauth', refresh: dead.refreshToken, access: dead.accessToken, expires: Date.now() - 1 }));
  const node = await createAccountAuth({ config: h.config(), store: h.store, keys: h.keys, egress: h.egress, log: h.captured.log, tuning: { needsLoginPollMs: 50 } });
  await node.start();
  try {
    await expect(node.credentialHeaders()).rejects.toMatchObject({ code: 'unavailable' });
    expect(node.status()).toBe('needs_login');

    await login(browserIO());
    await waitFor(() => node.status() === 'ok', 5_000, 'the node to adopt the login');
    const { token } = await node.credentialHeaders();
    const res = await postFakeMessages(h.url, fakeOAuthHeaders(token), fakeMessagesBody());
    expect(res.status).toBe(200);
    expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['invalid_grant', 'ok']);
    expect(leakedTokens(h.captured.lines(), [token, ...tokensSeenByFake(h.fake)])).toEqual([]);
  } finally {
    await node.stop();
  }
});
