// Persist before use, when storing fails: a private redis-server is stopped before the refresh and restarted on
// the same port. The new pair serves from memory, lands in Redis once it is back, and the spent refresh token is
// never sent again.
import { readFile } from 'node:fs/promises';
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages, startRedisServer, type RedisServerHandle } from '@switchyard/shared/testing';
import type { AccountAuth } from './account-auth.js';
import { createAccountAuth } from './create-account-auth.js';
import { serializeCredential, tryParseCredential } from './oauth-credential.js';
import { createHarness, leakedTokens, tokensSeenByFake, waitFor, type Harness } from './test-harness.js';

let redis: RedisServerHandle;
let h: Harness;
let a: AccountAuth | undefined;

beforeEach(async () => {
  redis = await startRedisServer();
  h = await createHarness({ label: 'store-outage', redisUrl: redis.url });
});
afterEach(async () => {
  await a?.stop();
  await h.cleanup();
  await redis.stop();
});

const status = async (token: string) => {
  const res = await postFakeMessages(h.url, fakeOAuthHeaders(token), fakeMessagesBody());
  await res.arrayBuffer();
  return res.status;
};

test('the token endpoint answers 200, storing fails: served from memory, stored once Redis is back, old token never resent', async () => {
  const issued = h.fake.issueOAuthCredentials('acct-1');
  h.fake.expireAccessToken(issued.accessToken);
  await h.store.set(h.keys.cred(h.nodeId), serializeCredential({ type: 'oauth', refresh: issued.refreshToken, access: issued.accessToken, expires: Date.now() - 1 }));
  a = await createAccountAuth({
    config: h.config(),
    store: h.store,
    keys: h.keys,
    egress: h.egress,
    log: h.captured.log,
    tuning: { storeBackoff: { baseMs: 100, maxMs: 500 } },
  });
  await a.start();
  await redis.stop();

  // 1. The refresh succeeds upstream, the store fails: the new pair is served from memory.
  const first = await a.credentialHeaders();
  expect(first.token).not.toBe(issued.accessToken);
  expect(await status(first.token)).toBe(200);
  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['ok']);

  // 2. Still down, the token is rejected: the next refresh uses the in-memory refresh token, not the spent one.
  expect(await a.refreshAfterUnauthorized(first.token)).toBe(true);
  const second = await a.credentialHeaders();
  expect(await status(second.token)).toBe(200);
  expect(h.fake.tokenRequests.map((r) => r.outcome)).toEqual(['ok', 'ok']);
  expect(h.fake.tokenRequests[1]?.refreshToken).not.toBe(issued.refreshToken);
  // The mirror file holds the newest pair meanwhile (it does not depend on Redis).
  expect(tryParseCredential(await readFile(`${h.config().CREDENTIALS_DIR}/${h.nodeId}.json`, 'utf8'))?.access).toBe(second.token);

  // 3. Redis comes back (empty, on the same port): the background retry stores the live pair.
  redis = await startRedisServer({ port: redis.port });
  await waitFor(async () => tryParseCredential(await h.store.get(h.keys.cred(h.nodeId)).catch(() => null))?.access === second.token, 20_000, 'the pair in Redis');

  expect(h.fake.tokenRequests.filter((r) => r.refreshToken === issued.refreshToken)).toHaveLength(1);
  expect(h.fake.tokenRequests.some((r) => r.outcome !== 'ok')).toBe(false);
  expect(a.status()).toBe('ok');
  const messages = h.captured.records().map((r) => r.message);
  expect(messages).toContain('credential store failed, serving the new pair from memory');
  expect(messages).toContain('credential stored');
  expect(leakedTokens(h.captured.lines(), [first.token, second.token, ...tokensSeenByFake(h.fake)])).toEqual([]);
}, 60_000);
