// Recovery from the gateway's sealed copy: a new host with the same NODE_ID and NODE_TOKEN and an empty volume
// restores the account and serves without a login; the ciphertext opens with nothing but that token; a rotated
// token re-seals the record, after which the old token opens nothing.
import { readdir, rm, stat } from 'node:fs/promises';
import { NodeTokens, openForNode, SealError } from '@switchyard/shared';
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages } from '@switchyard/testkit';
import type { AccountAuth } from './account-auth.js';
import { createAccountAuth, type AccountConfig } from './create-account-auth.js';
import type { SealedCopy } from './sealed-copy.js';
import { createHarness, leakedTokens, tokensSeenByFake, type Harness } from './test-harness.js';

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

async function start(config: AccountConfig, copy: SealedCopy = h.copy): Promise<AccountAuth> {
  const a = await createAccountAuth({ config, copy, egress: h.egress, log: h.captured.log });
  accounts.push(a);
  await a.start();
  return a;
}

async function serves(a: AccountAuth): Promise<string> {
  const { token } = await a.credentialHeaders();
  const res = await postFakeMessages(h.url, fakeOAuthHeaders(token), fakeMessagesBody());
  await res.arrayBuffer();
  expect(res.status).toBe(200);
  return token;
}

/** The first host: logged in through CLAUDE_REFRESH_TOKEN, served once, stopped, its copy at the gateway. */
async function firstHost(): Promise<{ envToken: string; served: string }> {
  const envToken = h.fake.issueRefreshToken('acct-1');
  const first = await start(h.config({ CLAUDE_REFRESH_TOKEN: envToken }));
  const served = await serves(first);
  await first.stop();
  expect(await h.copy.flush(10_000)).toBe(true);
  return { envToken, served };
}

test('a new host with the same NODE_ID and NODE_TOKEN and an empty volume restores the account and serves without a login', async () => {
  const { envToken, served } = await firstHost();
  expect(h.fake.tokenRequests).toHaveLength(1);

  // The volume is gone; the new host's .env still carries the original (now spent) CLAUDE_REFRESH_TOKEN.
  await rm(h.config().CREDENTIALS_DIR, { recursive: true });
  const second = await start(h.config({ CLAUDE_REFRESH_TOKEN: envToken }), h.newCopy(h.token));

  expect(second.status()).toBe('ok');
  expect(await serves(second)).toBe(served);
  // No login, no token call: the restored access token is still good; the spent env token was never sent again.
  expect(h.fake.tokenRequests).toHaveLength(1);
  expect(await h.file.read()).toEqual(h.sealedRecord());
  expect((await stat(h.file.path)).mode & 0o777).toBe(0o600);
  expect(await readdir(h.config().CREDENTIALS_DIR)).toEqual([`${h.nodeId}.json`]);
  expect(
    h.captured.records().find((r) => r.message === 'credential loaded' && r.source === "the gateway's sealed copy"),
  ).toBeDefined();

  // It keeps refreshing from there: the restored refresh token is the live one.
  expect(await second.refreshAfterUnauthorized(served)).toBe(true);
  await serves(second);
  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['ok', 'ok']);
  expect(h.fake.tokenRequests.filter((r) => r.refreshToken === envToken)).toHaveLength(1);
});

test('the stored ciphertext does not open without the token (nor under another node id) and shows no token', async () => {
  await firstHost();
  const sealed = h.gateway.sealed!;
  const record = h.sealedRecord()!;
  expect(sealed).not.toContain(record.refresh);
  expect(sealed).not.toContain(record.access);
  expect(() => openForNode(NodeTokens.generate(), h.nodeId, sealed)).toThrow(SealError);
  expect(() => openForNode(h.token, 'node-b', sealed)).toThrow(SealError);

  // A host with the right id but another token: the gateway refuses it; with nothing else it cannot start.
  await rm(h.config().CREDENTIALS_DIR, { recursive: true });
  const stranger = h.newCopy(NodeTokens.generate());
  await expect(
    createAccountAuth({ config: h.config(), copy: stranger, egress: h.egress, log: h.captured.log }),
  ).rejects.toMatchObject({
    code: 'missing',
    message: expect.stringContaining('refused NODE_TOKEN') as unknown,
  });
});

test('a rotated token re-seals the record: the old token no longer opens the newest copy, and the new one restores it', async () => {
  const { served } = await firstHost();
  const oldToken = h.token;
  const oldCopy = h.gateway.sealed!;

  // The operator rotates the token (POST /admin/nodes/:id/token) and puts the new one in the node's .env.
  const newToken = NodeTokens.generate();
  h.gateway.token = newToken;
  const rotated = await start(h.config(), h.newCopy(newToken));
  expect(await serves(rotated)).toBe(served);
  await rotated.stop();

  // Re-sealed at start under the new token (the old copy did not open with it: one warning).
  await waitForSealedChange(oldCopy);
  expect(h.sealedRecord(newToken)).toEqual(await h.file.read());
  expect(() => openForNode(oldToken, h.nodeId, h.gateway.sealed!)).toThrow(SealError);
  expect(h.captured.records().filter((r) => String(r.message).includes('does not open'))).toHaveLength(1);

  // A new host with the new token and an empty volume restores it.
  await rm(h.config().CREDENTIALS_DIR, { recursive: true });
  const restored = await start(h.config(), h.newCopy(newToken));
  expect(await serves(restored)).toBe(served);
  expect(h.fake.tokenRequests).toHaveLength(1);
});

async function waitForSealedChange(before: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (h.gateway.sealed === before) {
    if (Date.now() > deadline) throw new Error('the copy was not re-sealed');
    await new Promise((r) => setTimeout(r, 20));
  }
}
