// Persist before use, when storing fails. The volume: CREDENTIALS_DIR is replaced by a plain file before the refresh
// and put back later — the new pair serves from memory, is sealed to the gateway at once, lands on the volume once it
// is back, and the spent refresh token is never sent again. The gateway: down during two refreshes — the volume has
// each pair at once, and only the newest sealed copy lands once the gateway is back on its port.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages, waitFor } from '@switchyard/testkit';
import type { AccountAuth } from './account-auth.js';
import { createAccountAuth } from './create-account-auth.js';
import { createHarness, leakedTokens, tokensSeenByFake, type Harness } from './test-harness.js';

let h: Harness;
let a: AccountAuth | undefined;

beforeEach(async () => {
  h = await createHarness();
});
afterEach(async () => {
  await a?.stop();
  a = undefined;
  await h.cleanup();
});

const status = async (token: string) => {
  const res = await postFakeMessages(h.url, fakeOAuthHeaders(token), fakeMessagesBody());
  await res.arrayBuffer();
  return res.status;
};

async function expiredAccount() {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  h.fake.expireAccessToken(issued.accessToken);
  await h.file.write({
    type: 'oauth',
    refresh: issued.refreshToken,
    access: issued.accessToken,
    expires: Date.now() - 1,
  });
  a = await createAccountAuth({
    config: h.config(),
    copy: h.copy,
    egress: h.egress,
    log: h.captured.log,
    tuning: { storeBackoff: { baseMs: 100, maxMs: 500 } },
  });
  await a.start();
  await h.copy.flush(10_000);
  return { issued, account: a };
}

test('the token endpoint answers 200, the volume write fails: served from memory, sealed at once, stored once the volume is back, old token never resent', async () => {
  const { issued, account } = await expiredAccount();
  const volume = h.config().CREDENTIALS_DIR;
  await rename(volume, `${volume}.away`);
  await writeFile(volume, 'not a directory');

  // 1. The refresh succeeds upstream, the volume write fails: the new pair is served from memory.
  const first = await account.credentialHeaders();
  expect(first.token).not.toBe(issued.accessToken);
  expect(await status(first.token)).toBe(200);
  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['ok']);

  // 2. Still failing, the token is rejected: the next refresh uses the in-memory refresh token, not the spent one.
  expect(await account.refreshAfterUnauthorized(first.token)).toBe(true);
  const second = await account.credentialHeaders();
  expect(await status(second.token)).toBe(200);
  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['ok', 'ok']);
  expect(h.fake.tokenRequests[1]?.refreshToken).not.toBe(issued.refreshToken);
  // The gateway's sealed copy holds the newest pair meanwhile (it does not depend on the volume).
  expect(await h.copy.flush(10_000)).toBe(true);
  expect(h.sealedRecord()?.access).toBe(second.token);

  // 3. The volume comes back (with the old record on it): the background retry stores the live pair.
  await rm(volume);
  await rename(`${volume}.away`, volume);
  await waitFor(
    'the pair on the volume',
    async () => (await h.file.read().catch(() => undefined))?.access === second.token,
    20_000,
  );

  expect(h.fake.tokenRequests.filter((r) => r.refreshToken === issued.refreshToken)).toHaveLength(1);
  expect(h.fake.tokenRequests.some((r) => r.outcome !== 'ok')).toBe(false);
  expect(account.status()).toBe('ok');
  // The file is in place a moment before its write settles (the directory's fsync) and the recovery is logged.
  await waitFor(
    'the recovery log line',
    () => h.captured.records().some((r) => r.message === 'credential stored'),
    10_000,
  );
  expect(h.captured.records().map((r) => r.message)).toContain(
    'credential store failed, serving the new pair from memory',
  );
  expect(leakedTokens(h.captured.lines(), [h.token, first.token, second.token, ...tokensSeenByFake(h.fake)])).toEqual(
    [],
  );
}, 60_000);

test('the gateway is down during two refreshes: each pair is on the volume at once; the newest sealed copy lands once it is back', async () => {
  const { account } = await expiredAccount();
  const putsBefore = h.gateway.puts;
  await h.gateway.down();

  const first = await account.credentialHeaders();
  expect((await h.file.read())?.access).toBe(first.token);
  expect(await account.refreshAfterUnauthorized(first.token)).toBe(true);
  const second = await account.credentialHeaders();
  expect((await h.file.read())?.access).toBe(second.token);
  expect(await status(second.token)).toBe(200);
  expect(await h.copy.flush(300)).toBe(false);

  await h.gateway.up();
  expect(await h.copy.flush(20_000)).toBe(true);
  expect(h.sealedRecord()?.access).toBe(second.token);
  // Newest wins: the first pair's copy, superseded while the gateway was down, was never stored.
  expect(h.gateway.puts - putsBefore).toBe(1);
  await waitFor(
    'the recovery log line',
    () => h.captured.records().some((r) => r.message === 'sealed credential copy stored at the gateway'),
    10_000,
  );
  expect(h.captured.records().map((r) => r.message)).toContain(
    'sealed credential copy not stored at the gateway, retrying in the background',
  );
  expect(leakedTokens(h.captured.lines(), [h.token, ...tokensSeenByFake(h.fake)])).toEqual([]);
}, 60_000);

test('a volume record deleted while the node runs is written back by the next refresh', async () => {
  const { account } = await expiredAccount();
  const { token } = await account.credentialHeaders();
  await rm(h.config().CREDENTIALS_DIR, { recursive: true });
  await mkdir(h.config().CREDENTIALS_DIR);
  expect(await account.refreshAfterUnauthorized(token)).toBe(true);
  expect((await h.file.read())?.access).toBe((await account.credentialHeaders()).token);
});
