// Refresh under concurrency, against the fake token endpoint and the real Redis: single-flight in a process,
// one rotation across two holders of the same account, the jittered background schedule, 401-triggered refresh.
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages } from '@switchyard/shared/testing';
import type { AccountAuth } from './account-auth.js';
import { createAccountAuth, type OAuthTuning } from './create-account-auth.js';
import { createCredentialFile } from './credential-file.js';
import { serializeCredential, tryParseCredential, type OAuthCredential } from './oauth-credential.js';
import { createHarness, createManualClock, leakedTokens, tokensSeenByFake, waitFor, type Harness } from './test-harness.js';

let h: Harness;
const accounts: AccountAuth[] = [];

beforeEach(async () => {
  h = await createHarness({ label: 'refresh-conc' });
});
afterEach(async () => {
  await Promise.all(accounts.splice(0).map((a) => a.stop()));
  expect(leakedTokens(h.captured.lines(), tokensSeenByFake(h.fake))).toEqual([]);
  await h.cleanup();
});

/** A record whose access token has expired but whose refresh token is live. */
function expiredRecord(): OAuthCredential {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  h.fake.expireAccessToken(issued.accessToken);
  return { type: 'oauth', refresh: issued.refreshToken, access: issued.accessToken, expires: Date.now() - 1_000 };
}

async function account(opts: { store?: Harness['store']; dir?: string; tuning?: OAuthTuning } = {}): Promise<AccountAuth> {
  const config = h.config(opts.dir === undefined ? {} : { CREDENTIALS_DIR: opts.dir });
  const a = await createAccountAuth({ config, store: opts.store ?? h.store, keys: h.keys, egress: h.egress, log: h.captured.log, ...(opts.tuning ? { tuning: opts.tuning } : {}) });
  accounts.push(a);
  return a;
}

/** h.store whose compare-and-set waits while the gate is closed (to hold a refresh in its storing step). */
function gatedStore() {
  let open: () => void = () => {};
  let gated = false;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const store: Harness['store'] = {
    ...h.store,
    compareAndSet: async (...args) => {
      if (gated) await gate;
      return h.store.compareAndSet(...args);
    },
  };
  return { store, close: () => (gated = true), open: () => open() };
}

async function storedRecord(): Promise<OAuthCredential | undefined> {
  return tryParseCredential(await h.store.get(h.keys.cred(h.nodeId)));
}

async function worksUpstream(accessToken: string): Promise<number> {
  const res = await postFakeMessages(h.url, fakeOAuthHeaders(accessToken), fakeMessagesBody());
  await res.arrayBuffer();
  return res.status;
}

test('50 parallel requests on an expired access token: one token call, all 50 get the same new token', async () => {
  const old = expiredRecord();
  await h.store.set(h.keys.cred(h.nodeId), serializeCredential(old));
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
  // Persist before use: by the time the callers got the token, Redis and the mirror held the new pair.
  expect((await storedRecord())?.access).toBe(token);
  expect((await createCredentialFile(h.config().CREDENTIALS_DIR, h.nodeId).read())?.access).toBe(token);
});

test('two holders of one account (separate Redis connections) refreshing at once: one rotation, same live token', async () => {
  const old = expiredRecord();
  await h.store.set(h.keys.cred(h.nodeId), serializeCredential(old));
  const a = await account({ dir: `${h.dir}/a` });
  const b = await account({ store: h.secondStore(), dir: `${h.dir}/b` });

  const [fromA, fromB] = await Promise.all([
    Promise.all(Array.from({ length: 10 }, () => a.credentialHeaders())),
    Promise.all(Array.from({ length: 10 }, () => b.credentialHeaders())),
  ]);

  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['ok']);
  const tokens = new Set([...fromA, ...fromB].map((r) => r.token));
  expect(tokens.size).toBe(1);
  const [token] = [...tokens] as [string];
  const stored = await storedRecord();
  expect(stored?.access).toBe(token);
  expect(await worksUpstream(stored?.access ?? '')).toBe(200);

  // The account keeps working: B is told its token is dead and rotates again; A then adopts B's pair from Redis
  // instead of sending its (spent) refresh token.
  expect(await b.refreshAfterUnauthorized(token)).toBe(true);
  const afterB = (await b.credentialHeaders()).token;
  expect(await a.refreshAfterUnauthorized(token)).toBe(true);
  expect((await a.credentialHeaders()).token).toBe(afterB);
  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['ok', 'ok']);
  expect((await storedRecord())?.access).toBe(afterB);
  expect(await worksUpstream(afterB)).toBe(200);
  expect(a.status()).toBe('ok');
  expect(b.status()).toBe('ok');
});

test('background refresh runs ahead of expiry at margin + jitter, and re-arms after each refresh', async () => {
  const clock = createManualClock();
  const issued = h.fake.issueOAuthCredentials('acct-1');
  const expires = clock.now() + 60 * 60_000;
  await h.store.set(h.keys.cred(h.nodeId), serializeCredential({ type: 'oauth', refresh: issued.refreshToken, access: issued.accessToken, expires }));
  // random 0.5 → jitter = 25% of the margin: due at expires - 12.5 min.
  const a = await account({ tuning: { now: clock.now, sleep: clock.sleep, random: () => 0.5 } });
  await a.start();

  await clock.advance(60 * 60_000 - 12.5 * 60_000 - 1_000);
  expect(h.fake.tokenRequests).toHaveLength(0);
  await clock.advance(2_000);
  expect(h.fake.tokenRequests).toHaveLength(1);
  const first = (await a.credentialHeaders()).token;
  expect(first).not.toBe(issued.accessToken);
  expect((await storedRecord())?.expires).toBe(clock.now() - 1_000 + 28_800_000);

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
    await h.store.set(h.keys.cred(h.nodeId), serializeCredential({ type: 'oauth', refresh: issued.refreshToken, access: issued.accessToken, expires: clock.now() + 3_600_000 }));
    // Own mirror per run: the first run's newer mirror would otherwise (rightly) win the second bootstrap.
    const a = await account({ dir: `${h.dir}/jitter-${draw}`, tuning: { now: clock.now, sleep: clock.sleep, random: () => draw } });
    await a.start();
    const before = h.fake.tokenRequests.length;
    const start = clock.now();
    while (h.fake.tokenRequests.length === before) await clock.advance(10_000);
    moments.push(clock.now() - start);
    await a.stop();
  }
  // Margin 10 min: draw 0 → ~50 min in, draw 0.99 → ~45 min in.
  expect(moments[0]).toBeGreaterThan(49 * 60_000);
  expect(moments[1]).toBeLessThan(46 * 60_000);
});

test('a 401 before the known expiry refreshes once (shared by concurrent callers) and yields a new token', async () => {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  await h.store.set(h.keys.cred(h.nodeId), serializeCredential({ type: 'oauth', refresh: issued.refreshToken, access: issued.accessToken, expires: Date.now() + 3_600_000 }));
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

test('persist before use: while the new pair is being stored, requests keep getting the old (still valid) token', async () => {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  // Inside the margin already: start() refreshes at once.
  await h.store.set(h.keys.cred(h.nodeId), serializeCredential({ type: 'oauth', refresh: issued.refreshToken, access: issued.accessToken, expires: Date.now() + 5 * 60_000 }));
  const slow = gatedStore();
  const a = await account({ store: slow.store });
  slow.close();
  await a.start();
  try {
    await waitFor(() => h.fake.tokenRequests.length === 1, 5_000, 'the background refresh');
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 5; i++) expect((await a.credentialHeaders()).token).toBe(issued.accessToken);
    expect(await storedRecord()).toMatchObject({ access: issued.accessToken });
  } finally {
    slow.open();
  }
  await waitFor(async () => (await a.credentialHeaders()).token !== issued.accessToken, 5_000, 'the new token');
  expect((await storedRecord())?.access).toBe((await a.credentialHeaders()).token);
});

test('stop() waits for a running refresh to finish storing (drain never loses a rotated token)', async () => {
  const old = expiredRecord();
  await h.store.set(h.keys.cred(h.nodeId), serializeCredential(old));
  const slow = gatedStore();
  const a = await account({ store: slow.store });
  slow.close();
  const headers = a.credentialHeaders();
  let stopped = false;
  try {
    await waitFor(() => h.fake.tokenRequests.length === 1, 5_000, 'the refresh');
    const stopping = a.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 100));
    expect(stopped).toBe(false);
    slow.open();
    await stopping;
  } finally {
    slow.open();
  }
  const { token } = await headers;
  expect((await storedRecord())?.access).toBe(token);
  expect(token).not.toBe(old.access);
});
