// The login flow end to end against the fake's GET /oauth/authorize and token endpoint, storing on the node's volume
// and sealing to the gateway (a real HTTP stand-in on loopback).
import { stat } from 'node:fs/promises';
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages, waitFor } from '@switchyard/testkit';
import { createAccountAuth } from './create-account-auth.js';
import { LoginError, runLogin, type LoginDeps, type LoginIO } from './login.js';
import { createHarness, leakedTokens, tokensSeenByFake, type Harness } from './test-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await createHarness({ fake: { accounts: [{ id: 'max-1', email: 'max@example.test' }] } });
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

const login = (io: LoginIO, extra: Partial<LoginDeps> = { copy: h.copy }) =>
  runLogin({ config: loginConfig(), egress: h.egress, io, ...extra });

test('prints the authorize URL, exchanges the pasted code#state, stores the credential on the volume (0600), seals it and prints the email', async () => {
  const io = browserIO();
  const result = await login(io);
  expect(result).toEqual({ email: 'max@example.test', sealed: true });
  expect(io.printed).toContain(
    `Logged in as max@example.test; credential for node ${h.nodeId} stored in ${h.file.path}.`,
  );
  expect(io.printed.at(-1)).toBe('Sealed copy stored at the gateway.');

  const authorize = new URL(io.printed.find((l) => l.startsWith(h.url)) ?? '');
  const [, state] = (io.shown[0] ?? '').split('#');
  expect(authorize.searchParams.get('state')).toBe(state);
  expect(authorize.searchParams.get('code_challenge_method')).toBe('S256');
  expect(h.fake.tokenRequests.map((r) => [r.grantType, r.outcome])).toEqual([['authorization_code', 'ok']]);

  const stored = await h.file.read();
  expect(stored).toBeDefined();
  const res = await postFakeMessages(h.url, fakeOAuthHeaders(stored?.access ?? ''), fakeMessagesBody());
  expect(res.status).toBe(200);
  expect((await stat(h.file.path)).mode & 0o777).toBe(0o600);
  expect(h.sealedRecord()).toEqual(stored);
  expect(leakedTokens(io.printed, [h.token, stored?.access ?? '', stored?.refresh ?? ''])).toEqual([]);
});

test('without GATEWAY_URL and NODE_TOKEN the login is stored on the volume only, and says so', async () => {
  const io = browserIO();
  const result = await login(io, {});
  expect(result).toEqual({ email: 'max@example.test', sealed: false });
  expect(io.printed.at(-1)).toMatch(/GATEWAY_URL and NODE_TOKEN are not set: no sealed copy/);
  expect(await h.file.read()).toBeDefined();
  expect(h.gateway.sealed).toBeUndefined();
});

test('a gateway that is down: stored on the volume, the login says the copy is pending, and the node seals it when it starts', async () => {
  await h.gateway.down();
  const io = browserIO();
  const result = await login(io, { copy: h.newCopy(), sealWaitMs: 300 });
  expect(result.sealed).toBe(false);
  expect(io.printed.at(-1)).toMatch(/did not take the sealed copy yet/);
  const stored = await h.file.read();

  await h.gateway.up();
  const node = await createAccountAuth({ config: h.config(), copy: h.copy, egress: h.egress, log: h.captured.log });
  try {
    expect(await h.copy.flush(10_000)).toBe(true);
    expect(h.sealedRecord()).toEqual(stored);
    expect((await node.credentialHeaders()).token).toBe(stored?.access);
  } finally {
    await node.stop();
  }
});

test.each([
  [
    'a wrong code',
    (shown: string) => `not-a-code#${shown.split('#')[1] ?? ''}`,
    'code_rejected',
    /refused: it is wrong, expired or already used/,
  ],
  [
    'a state mismatch',
    (shown: string) => `${shown.split('#')[0] ?? ''}#someone-elses-state`,
    'state_mismatch',
    /state mismatch/,
  ],
  ['an empty paste', () => '  ', 'empty_code', /No code was pasted/],
])('%s gives a clear one-line message and stores nothing', async (_label, paste, code, message) => {
  const err = (await login(browserIO(paste)).catch((e: unknown) => e)) as LoginError;
  expect(err).toBeInstanceOf(LoginError);
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
  expect(err.message).not.toContain('\n');
  expect(await h.file.read()).toBeUndefined();
  expect(h.gateway.sealed).toBeUndefined();
  if (code !== 'code_rejected') expect(h.fake.tokenRequests).toHaveLength(0);
});

test('an expired code gets the same clear message', async () => {
  await h.cleanup();
  h = await createHarness({ fake: { accounts: [{ id: 'max-1' }], authCodeTtlSec: 0 } });
  const err = (await login(browserIO()).catch((e: unknown) => e)) as LoginError;
  expect(err).toBeInstanceOf(LoginError);
  expect(err.code).toBe('code_rejected');
  expect(err.message).toMatch(/expired/);
  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['invalid_grant']);
  expect(await h.file.read()).toBeUndefined();
});

test('a running node waiting in needs_login picks up the new login by itself', async () => {
  const dead = h.fake.issueOAuthCredentials('max-1');
  h.fake.revokeRefreshToken(dead.refreshToken);
  h.fake.expireAccessToken(dead.accessToken);
  await h.file.write({ type: 'oauth', refresh: dead.refreshToken, access: dead.accessToken, expires: Date.now() - 1 });
  const node = await createAccountAuth({
    config: h.config(),
    copy: h.copy,
    egress: h.egress,
    log: h.captured.log,
    tuning: { needsLoginPollMs: 50 },
  });
  await node.start();
  try {
    await expect(node.credentialHeaders()).rejects.toMatchObject({ code: 'unavailable' });
    expect(node.status()).toBe('needs_login');

    // The login runs as its own process, with its own sealed copy.
    await login(browserIO(), { copy: h.newCopy() });
    await waitFor('the node to adopt the login', () => node.status() === 'ok', 5_000);
    const { token } = await node.credentialHeaders();
    const res = await postFakeMessages(h.url, fakeOAuthHeaders(token), fakeMessagesBody());
    expect(res.status).toBe(200);
    expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['invalid_grant', 'ok']);
    expect(await h.copy.flush(10_000)).toBe(true);
    expect(h.sealedRecord()?.access).toBe(token);
    expect(leakedTokens(h.captured.lines(), [h.token, token, ...tokensSeenByFake(h.fake)])).toEqual([]);
  } finally {
    await node.stop();
  }
});
