// Token endpoint failures against the fake upstream, the node's volume and the gateway's sealed copy: invalid_grant
// stops for a login (no retry loop) and a new login (on the volume, or sealed from another host) recovers; 503s and
// timeouts back off while the still-valid access token keeps serving; no token ever reaches a log.
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AppError } from '@switchyard/shared';
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages, waitFor } from '@switchyard/testkit';
import type { AccountAuth, AuthStatus } from './account-auth.js';
import { createAccountAuth, type OAuthTuning } from './create-account-auth.js';
import { bootstrapCredential } from './credential-sources.js';
import { createOAuthAccount } from './oauth-account.js';
import { createOAuthClient, type OAuthClient } from './oauth-client.js';
import { CredentialError } from './oauth-credential.js';
import {
  createHarness,
  createManualClock,
  leakedTokens,
  tokensSeenByFake,
  type Harness,
  type ManualClock,
} from './test-harness.js';

let h: Harness;
const accounts: AccountAuth[] = [];

afterEach(async () => {
  await Promise.all(accounts.splice(0).map((a) => a.stop()));
  expect(leakedTokens(h.captured.lines(), [h.token, ...tokensSeenByFake(h.fake)])).toEqual([]);
  await h.cleanup();
});

async function account(tuning: OAuthTuning, overrides: Parameters<Harness['config']>[0] = {}): Promise<AccountAuth> {
  const a = await createAccountAuth({
    config: h.config(overrides),
    copy: h.copy,
    egress: h.egress,
    log: h.captured.log,
    tuning,
  });
  accounts.push(a);
  return a;
}

/** Stores a live pair expiring `inMs` from the clock; margin 10 min and random 0.5 make it due at expires - 12.5 min. */
async function seed(clock: ManualClock, inMs: number) {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  await h.file.write({
    type: 'oauth',
    refresh: issued.refreshToken,
    access: issued.accessToken,
    expires: clock.now() + inMs,
  });
  return issued;
}

function errorLines(): Record<string, unknown>[] {
  return h.captured.records().filter((r) => r.level === 'error');
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('invalid_grant', () => {
  beforeEach(async () => {
    h = await createHarness();
  });

  test('needs_login after one token call, one error log naming the fix, no retry loop; a new login on the volume recovers', async () => {
    const clock = createManualClock();
    const issued = await seed(clock, 20 * 60_000);
    h.fake.revokeRefreshToken(issued.refreshToken);
    const a = await account({ now: clock.now, sleep: clock.sleep, random: () => 0.5, needsLoginPollMs: 30_000 });
    const seen: AuthStatus[] = [];
    a.onStatusChange((s) => seen.push(s));
    await a.start();

    await clock.advance(8 * 60_000);
    expect(a.status()).toBe('needs_login');
    // Many backoff periods later: still the one call, still the one error line.
    await clock.advance(30 * 60_000);
    expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['invalid_grant']);
    expect(errorLines()).toHaveLength(1);
    expect(errorLines()[0]).toMatchObject({ message: 'credential needs login', nodeId: h.nodeId });
    expect(String(errorLines()[0]?.fix)).toMatch(/login command.*CLAUDE_REFRESH_TOKEN/);
    const err = await rejection(a.credentialHeaders());
    expect(err).toBeInstanceOf(AppError);
    expect(err).toMatchObject({ code: 'unavailable', status: 503 });
    expect(await a.refreshAfterUnauthorized(issued.accessToken)).toBe(false);
    expect(seen).toEqual(['needs_login']);

    // The operator logs in again (the login command writes a new pair to the volume): the node picks it up by itself.
    const relogin = h.fake.issueOAuthCredentials('acct-1');
    await h.file.write({
      type: 'oauth',
      refresh: relogin.refreshToken,
      access: relogin.accessToken,
      expires: clock.now() + 28_800_000,
    });
    await clock.advance(30_000);
    expect(a.status()).toBe('ok');
    expect(seen).toEqual(['needs_login', 'ok']);
    expect((await a.credentialHeaders()).token).toBe(relogin.accessToken);
    expect(h.fake.tokenRequests).toHaveLength(1);
  });

  test('in needs_login, a login sealed to the gateway from another host recovers (written to the volume first)', async () => {
    const dead = h.fake.issueOAuthCredentials('acct-1');
    h.fake.revokeRefreshToken(dead.refreshToken);
    h.fake.expireAccessToken(dead.accessToken);
    await h.file.write({
      type: 'oauth',
      refresh: dead.refreshToken,
      access: dead.accessToken,
      expires: Date.now() - 1,
    });
    const a = await account({ needsLoginPollMs: 50 });
    await a.start();
    await expect(a.credentialHeaders()).rejects.toMatchObject({ code: 'unavailable' });
    expect(a.status()).toBe('needs_login');
    // The dead pair's sealed copy sits at the gateway meanwhile: it is not taken back.
    await h.copy.flush(10_000);
    await new Promise((r) => setTimeout(r, 200));
    expect(a.status()).toBe('needs_login');

    // `login` run on another host with this node's NODE_ID, NODE_TOKEN and GATEWAY_URL seals its pair to the gateway.
    const relogin = h.fake.issueOAuthCredentials('acct-1');
    const record = {
      type: 'oauth' as const,
      refresh: relogin.refreshToken,
      access: relogin.accessToken,
      expires: Date.now() + 28_800_000,
    };
    const elsewhere = h.newCopy();
    elsewhere.save(record);
    expect(await elsewhere.flush(10_000)).toBe(true);

    await waitFor('the node to adopt the sealed login', () => a.status() === 'ok', 10_000);
    expect((await a.credentialHeaders()).token).toBe(relogin.accessToken);
    expect(await h.file.read()).toEqual(record);
    expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['invalid_grant']);
  });

  test('invalid_grant because a login replaced the record during the refresh: the re-read adopts it, no needs_login', async () => {
    const issued = h.fake.issueOAuthCredentials('acct-1');
    h.fake.expireAccessToken(issued.accessToken);
    await h.file.write({
      type: 'oauth',
      refresh: issued.refreshToken,
      access: issued.accessToken,
      expires: Date.now() - 1,
    });
    const tokenUrl = new URL(`${h.url}/v1/oauth/token`);
    const real = createOAuthClient({ egress: h.egress, tokenUrl, clientId: h.config().OAUTH_CLIENT_ID });
    // The operator's login lands on the volume just before our token call, and the account was revoked with it.
    const login = h.fake.issueOAuthCredentials('acct-1');
    const racing: OAuthClient = {
      ...real,
      async refresh(token) {
        await h.file.write({
          type: 'oauth',
          refresh: login.refreshToken,
          access: login.accessToken,
          expires: Date.now() + 28_800_000,
        });
        h.fake.revokeRefreshToken(token);
        return real.refresh(token);
      },
    };
    const initial = await bootstrapCredential({
      nodeId: h.nodeId,
      config: {},
      file: h.file,
      copy: h.copy,
      log: h.captured.log,
    });
    const a = createOAuthAccount({
      nodeId: h.nodeId,
      file: h.file,
      copy: h.copy,
      client: racing,
      log: h.captured.log,
      initial,
      refreshMarginMs: 600_000,
    });
    accounts.push(a);

    const { token } = await a.credentialHeaders();
    expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['invalid_grant']);
    expect(a.status()).toBe('ok');
    expect(token).toBe(login.accessToken);
    const res = await postFakeMessages(h.url, fakeOAuthHeaders(token), fakeMessagesBody());
    expect(res.status).toBe(200);
    expect(errorLines()).toHaveLength(0);
  });

  test('a dead volume record plus a new CLAUDE_REFRESH_TOKEN recovers without a login', async () => {
    const dead = h.fake.issueOAuthCredentials('acct-1');
    h.fake.revokeRefreshToken(dead.refreshToken);
    h.fake.expireAccessToken(dead.accessToken);
    await h.file.write({
      type: 'oauth',
      refresh: dead.refreshToken,
      access: dead.accessToken,
      expires: Date.now() - 60_000,
    });
    const fresh = h.fake.issueRefreshToken('acct-1');
    const a = await account({}, { CLAUDE_REFRESH_TOKEN: fresh });

    const { token } = await a.credentialHeaders();
    expect(
      h.fake.tokenRequests.map((r) => [
        r.refreshToken === dead.refreshToken ? 'dead' : r.refreshToken === fresh ? 'env' : '?',
        r.outcome,
      ]),
    ).toEqual([
      ['dead', 'invalid_grant'],
      ['env', 'ok'],
    ]);
    expect(a.status()).toBe('ok');
    const res = await postFakeMessages(h.url, fakeOAuthHeaders(token), fakeMessagesBody());
    expect(res.status).toBe(200);
    expect(await h.file.read()).toMatchObject({ access: token });
    expect(errorLines()).toHaveLength(0);
  });
});

describe('transient failures back off while the access token keeps serving', () => {
  beforeEach(async () => {
    h = await createHarness();
  });

  async function backoffRun(fault: 'token_error' | 'token_timeout') {
    const clock = createManualClock();
    const issued = await seed(clock, 20 * 60_000);
    const attempts: number[] = [];
    h.fake.on('token-request', () => attempts.push(clock.now()));
    h.fake.inject(
      fault === 'token_error'
        ? { kind: 'token_error', status: 503, times: 1_000 }
        : { kind: 'token_timeout', times: 1_000 },
    );
    const a = await account({
      now: clock.now,
      sleep: clock.sleep,
      random: () => 0.5,
      backoff: { baseMs: 1_000, maxMs: 30_000 },
      tokenTimeoutMs: 100,
    });
    await a.start();

    await clock.advance(7.5 * 60_000);
    expect(attempts).toHaveLength(1);
    for (let i = 0; i < 12; i++) {
      await clock.advance(5_000);
      // Traffic continues on the still-valid access token.
      expect((await a.credentialHeaders()).token).toBe(issued.accessToken);
    }
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] ?? 0));
    expect(gaps).toEqual([750, 1_500, 3_000, 6_000, 12_000, 22_500].slice(0, gaps.length));
    expect(attempts).toHaveLength(7);
    expect(a.status()).toBe('ok');
    const res = await postFakeMessages(h.url, fakeOAuthHeaders(issued.accessToken), fakeMessagesBody());
    expect(res.status).toBe(200);

    // Once it really expires and the endpoint still fails: 503 to callers (retryable), never a stale token.
    await clock.advance(20 * 60_000 - 8.5 * 60_000);
    const err = await rejection(a.credentialHeaders());
    expect(err).toMatchObject({ code: 'unavailable', retryable: true });
    // The endpoint recovers: the next scheduled retry succeeds and traffic resumes on the new token.
    h.fake.clearFaults();
    await clock.advance(30_000);
    const { token } = await a.credentialHeaders();
    expect(token).not.toBe(issued.accessToken);
    expect(h.fake.tokenRequests.at(-1)?.outcome).toBe('ok');
    expect(h.fake.tokenRequests.filter((r) => r.outcome === 'invalid_grant')).toHaveLength(0);
  }

  test('503: exponential backoff with jitter, capped', () => backoffRun('token_error'));

  test('timeouts: the same backoff', () => backoffRun('token_timeout'));
});

describe('secrets stay out of logs and errors', () => {
  const sentinel = (kind: string) => `SENTINEL-${kind}-${randomBytes(12).toString('hex')}`;
  const refreshSentinel = sentinel('R');
  const accessSentinel = sentinel('A');

  beforeEach(async () => {
    h = await createHarness({
      fake: { accounts: [{ id: 'acct-1', refreshToken: refreshSentinel, accessToken: accessSentinel }] },
    });
  });

  test('planted tokens never appear in any log line, through refresh, invalid_grant and a malformed file', async () => {
    const fileSentinel = sentinel('F');
    const bad = join(h.dir, 'bad.json');
    await writeFile(bad, JSON.stringify({ refresh: fileSentinel }));
    const malformed = await rejection(account({}, { CLAUDE_CREDENTIALS_FILE: bad }));
    expect(malformed).toBeInstanceOf(CredentialError);
    expect((malformed as Error).message).toContain(`CLAUDE_CREDENTIALS_FILE=${bad}`);
    expect((malformed as Error).message).not.toContain(fileSentinel);

    await h.file.write({ type: 'oauth', refresh: refreshSentinel, access: accessSentinel, expires: Date.now() - 1 });
    const a = await account({}, { CLAUDE_REFRESH_TOKEN: sentinel('ENV') });
    const { token } = await a.credentialHeaders();
    h.fake.revokeRefreshToken((await h.file.read())?.refresh ?? '');
    expect(await a.refreshAfterUnauthorized(token)).toBe(false);
    expect(a.status()).toBe('needs_login');

    const lines = h.captured.lines();
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(
      expect.arrayContaining(['credential loaded', 'credential refreshed', 'credential needs login']),
    );
    expect(lines.join('\n')).not.toContain('SENTINEL');
    expect(leakedTokens(lines, [token, ...tokensSeenByFake(h.fake)])).toEqual([]);
  });
});
