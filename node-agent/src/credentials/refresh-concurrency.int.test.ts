// Refresh under concurrency, against the fake token endpoint, the node's volume and the gateway's sealed copy:
// single-flight in a process, persist (volume, then seal) before use, the jittered background schedule,
// 401-triggered refresh, a login written to the volume while the node runs, and a restart on the same volume.
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages, waitFor } from '@switchyard/testkit';
import type { AccountAuth } from './account-auth.js';
import { createAccountAuth, type OAuthTuning } from './create-account-auth.js';
import { createCredentialFile, type CredentialFile } from './credential-file.js';
import { bootstrapCredential } from './credential-sources.js';
import { createOAuthAccount } from './oauth-account.js';
import { createOAuthClient } from './oauth-client.js';
import type { OAuthCredential } from './oauth-credential.js';
import { createHarness, createManualClock, leakedTokens, tokensSeenByFake, type Harness } from './test-harness.js';

let h: Harness;
const accounts: AccountAuth[] = [];

beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await Promise.all(accounts.splice(0).map((a) => a.stop()));
  expect(leakedTokens(h.captured.lines(), [h.token, ...tokensSeenByFake(h.fake)])).toEqual([]);
  await h.cleanup();
});

/** A record whose access token has expired but whose refresh token is live. */
function expiredRecord(): OAuthCredential {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  h.fake.expireAccessToken(issued.accessToken);
  return { type: 'oauth', refresh: issued.refreshToken, access: issued.accessToken, expires: Date.now() - 1_000 };
}

async function account(opts: { dir?: string; tuning?: OAuthTuning } = {}): Promise<AccountAuth> {
  const config = h.config(opts.dir === undefined ? {} : { CREDENTIALS_DIR: opts.dir });
  const a = await createAccountAuth({
    config,
    copy: h.copy,
    egress: h.egress,
    log: h.captured.log,
    ...(opts.tuning ? { tuning: opts.tuning } : {}),
  });
  accounts.push(a);
  return a;
}

/** The node's volume record whose writes wait while the gate is closed (to hold a refresh in its storing step). */
function gatedFile() {
  let open: () => void = () => {};
  let gated = false;
  let waiting = 0;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const file: CredentialFile = {
    ...h.file,
    write: async (credential) => {
      if (gated) {
        waiting++;
        await gate;
        waiting--;
      }
      return h.file.write(credential);
    },
  };
  return { file, close: () => (gated = true), open: () => open(), waiting: () => waiting };
}

/** An account over a gated volume record (built from its parts, as createAccountAuth does). */
async function gatedAccount(file: CredentialFile): Promise<AccountAuth> {
  const config = h.config();
  const initial = await bootstrapCredential({ nodeId: h.nodeId, config, file, copy: h.copy, log: h.captured.log });
  const client = createOAuthClient({
    egress: h.egress,
    tokenUrl: new URL(config.ANTHROPIC_OAUTH_TOKEN_URL),
    clientId: config.OAUTH_CLIENT_ID,
  });
  const a = createOAuthAccount({
    nodeId: h.nodeId,
    file,
    copy: h.copy,
    client,
    log: h.captured.log,
    initial,
    refreshMarginMs: config.REFRESH_MARGIN_MS,
  });
  accounts.push(a);
  return a;
}

async function worksUpstream(accessToken: string): Promise<number> {
  const res = await postFakeMessages(h.url, fakeOAuthHeaders(accessToken), fakeMessagesBody());
  await res.arrayBuffer();
  return res.status;
}

test('50 parallel requests on an expired access token: one token call, all 50 get the same new token, stored and sealed first', async () => {
  const old = expiredRecord();
  await h.file.write(old);
  const a = await account();
  await a.start();

  const results = await Promise.all(Array.from({ length: 50 }, () => a.credentialHeaders()));

  expect(h.fake.tokenRequests).toHaveLength(1);
  expect(h.fake.tokenRequests[0]).toMatchObject({ refreshToken: old.refresh, outcome: 'ok' });
  const tokens = new Set(results.map((r) => r.token));
  expect(tokens.size).toBe(1);
  const [token] = [...tokens] as [string];
  expect(token).not.toBe(old.access);
  expect(results[0]?.headers).toEqual({ authorization: `Bearer ${token}` });
  const statuses = await Promise.all(results.map((r) => worksUpstream(r.token)));
  expect(statuses.filter((s) => s === 200)).toHaveLength(50);
  // Persist before use: by the time the callers got the token, the volume held the new pair.
  expect((await h.file.read())?.access).toBe(token);
  // ...and its sealed copy is on its way to the gateway.
  expect(await h.copy.flush(10_000)).toBe(true);
  expect(h.sealedRecord()?.access).toBe(token);
});

test('a restart on the same volume starts from the rotated pair: the rotated-out refresh token is never sent again', async () => {
  const old = expiredRecord();
  await h.file.write(old);
  const first = await account();
  const { token } = await first.credentialHeaders();
  await first.stop();

  const second = await account();
  expect((await second.credentialHeaders()).token).toBe(token);
  expect(await second.refreshAfterUnauthorized(token)).toBe(true);
  const next = (await second.credentialHeaders()).token;
  expect(await worksUpstream(next)).toBe(200);
  expect(h.fake.tokenRequests.map((r) => [r.refreshToken === old.refresh ? 'old' : 'rotated', r.outcome])).toEqual([
    ['old', 'ok'],
    ['rotated', 'ok'],
  ]);
  expect((await h.file.read())?.access).toBe(next);
});

test('a login written to the volume while the node runs is adopted (and sealed); the node keeps serving on it', async () => {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  await h.file.write({
    type: 'oauth',
    refresh: issued.refreshToken,
    access: issued.accessToken,
    expires: Date.now() + 3_600_000,
  });
  const a = await account();
  await a.start();
  expect((await a.credentialHeaders()).token).toBe(issued.accessToken);

  // The login command (another process) replaces the record.
  const login = h.fake.issueOAuthCredentials('acct-1');
  const loginRecord: OAuthCredential = {
    type: 'oauth',
    refresh: login.refreshToken,
    access: login.accessToken,
    expires: Date.now() + 8 * 3_600_000,
  };
  await createCredentialFile(h.config().CREDENTIALS_DIR, h.nodeId).write(loginRecord);

  // The next refresh (here: upstream said 401) first looks at the volume and takes the login instead of rotating.
  expect(await a.refreshAfterUnauthorized(issued.accessToken)).toBe(true);
  expect((await a.credentialHeaders()).token).toBe(login.accessToken);
  expect(h.fake.tokenRequests).toHaveLength(0);
  expect(await h.copy.flush(10_000)).toBe(true);
  expect(h.sealedRecord()).toEqual(loginRecord);
  expect(await worksUpstream(login.accessToken)).toBe(200);
});

test('background refresh runs ahead of expiry at margin + jitter, and re-arms after each refresh', async () => {
  const clock = createManualClock();
  const issued = h.fake.issueOAuthCredentials('acct-1');
  const expires = clock.now() + 60 * 60_000;
  await h.file.write({ type: 'oauth', refresh: issued.refreshToken, access: issued.accessToken, expires });
  // random 0.5 → jitter = 25% of the margin: due at expires - 12.5 min.
  const a = await account({ tuning: { now: clock.now, sleep: clock.sleep, random: () => 0.5 } });
  await a.start();

  await clock.advance(60 * 60_000 - 12.5 * 60_000 - 1_000);
  expect(h.fake.tokenRequests).toHaveLength(0);
  await clock.advance(2_000);
  expect(h.fake.tokenRequests).toHaveLength(1);
  const first = (await a.credentialHeaders()).token;
  expect(first).not.toBe(issued.accessToken);
  expect((await h.file.read())?.expires).toBe(clock.now() - 1_000 + 28_800_000);

  // Re-armed for the new pair: nothing for most of its 8 hours, then one refresh 12.5 min before its end.
  await clock.advance(28_800_000 - 12.5 * 60_000 - 2_000);
  expect(h.fake.tokenRequests).toHaveLength(1);
  await clock.advance(2_000);
  expect(h.fake.tokenRequests).toHaveLength(2);
  expect((await a.credentialHeaders()).token).not.toBe(first);
  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['ok', 'ok']);
});

test('the jitter spreads nodes: with different random draws the refresh moments differ', async () => {
  const moments: number[] = [];
  for (const draw of [0, 0.99]) {
    const clock = createManualClock();
    const issued = h.fake.issueOAuthCredentials('acct-1');
    const dir = `${h.dir}/jitter-${draw}`;
    await createCredentialFile(dir, h.nodeId).write({
      type: 'oauth',
      refresh: issued.refreshToken,
      access: issued.accessToken,
      expires: clock.now() + 3_600_000,
    });
    // Each run its own node (volume and sealed copy): the first run's newer pair would otherwise (rightly) win the second start.
    h.gateway.sealed = undefined;
    const a = await account({ dir, tuning: { now: clock.now, sleep: clock.sleep, random: () => draw } });
    await a.start();
    const before = h.fake.tokenRequests.length;
    const start = clock.now();
    while (h.fake.tokenRequests.length === before) await clock.advance(10_000);
    moments.push(clock.now() - start);
    await a.stop();
    await h.copy.flush(10_000);
  }
  // Margin 10 min: draw 0 → ~50 min in, draw 0.99 → ~45 min in.
  expect(moments[0]).toBeGreaterThan(49 * 60_000);
  expect(moments[1]).toBeLessThan(46 * 60_000);
});

test('a 401 before the known expiry refreshes once (shared by concurrent callers) and yields a new token', async () => {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  await h.file.write({
    type: 'oauth',
    refresh: issued.refreshToken,
    access: issued.accessToken,
    expires: Date.now() + 3_600_000,
  });
  const a = await account();
  const { token } = await a.credentialHeaders();
  expect(token).toBe(issued.accessToken);

  const answers = await Promise.all(Array.from({ length: 5 }, () => a.refreshAfterUnauthorized(token)));
  expect(answers).toEqual([true, true, true, true, true]);
  expect(h.fake.tokenRequests).toHaveLength(1);
  const next = (await a.credentialHeaders()).token;
  expect(next).not.toBe(token);
  // A stale 401 (for a token already replaced) makes no further call.
  expect(await a.refreshAfterUnauthorized(token)).toBe(true);
  expect(h.fake.tokenRequests).toHaveLength(1);
});

test('persist before use: while the new pair is being written to the volume, requests keep getting the old (still valid) token', async () => {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  // Inside the margin already: start() refreshes at once.
  await h.file.write({
    type: 'oauth',
    refresh: issued.refreshToken,
    access: issued.accessToken,
    expires: Date.now() + 5 * 60_000,
  });
  const slow = gatedFile();
  const a = await gatedAccount(slow.file);
  slow.close();
  await a.start();
  try {
    await waitFor('the refreshed pair waiting to be written', () => slow.waiting() === 1, 5_000);
    expect(h.fake.tokenRequests).toHaveLength(1);
    for (let i = 0; i < 5; i++) expect((await a.credentialHeaders()).token).toBe(issued.accessToken);
    expect(await h.file.read()).toMatchObject({ access: issued.accessToken });
  } finally {
    slow.open();
  }
  await waitFor('the new token', async () => (await a.credentialHeaders()).token !== issued.accessToken, 5_000);
  expect((await h.file.read())?.access).toBe((await a.credentialHeaders()).token);
});

test('stop() waits for a running refresh to finish storing (drain never loses a rotated token)', async () => {
  const old = expiredRecord();
  await h.file.write(old);
  const slow = gatedFile();
  const a = await gatedAccount(slow.file);
  slow.close();
  const headers = a.credentialHeaders();
  let stopped = false;
  try {
    await waitFor('the refreshed pair waiting to be written', () => slow.waiting() === 1, 5_000);
    const stopping = a.stop().then(() => (stopped = true));
    // A stop() that did not wait for the write would be done by now; one that waits cannot be, however long this is.
    await new Promise((r) => setTimeout(r, 100));
    expect(stopped).toBe(false);
    slow.open();
    await stopping;
  } finally {
    slow.open();
  }
  const { token } = await headers;
  expect((await h.file.read())?.access).toBe(token);
  expect(token).not.toBe(old.access);
});
