// The authenticator's cache, clock and failure behaviour, on the in-memory store twin with an injected clock.
import { createKeyspace, createNullLogger, withDeadline, type KeyValueStore } from '@switchyard/shared';
import { createMemoryStore } from '@switchyard/testkit';
import { createKeyAuthenticator, type AuthResult, type KeyAuthenticatorDeps } from './key-authenticator.js';
import { generateGatewayKey } from './gateway-key.js';
import { createKeyRepository, type KeySettings } from './key-repository.js';

const SETTINGS: KeySettings = {
  name: 'k',
  enabled: true,
  expiresAt: null,
  allowedModels: null,
  allowedBetas: null,
  rpm: null,
  concurrency: null,
  dailyTokenBudget: null,
};

type Mode = 'ok' | 'throw' | 'hang';

function setup(opts: Partial<KeyAuthenticatorDeps> = {}) {
  let t = 1_700_000_000_000;
  const clock = { now: () => t, advance: (ms: number) => (t += ms) };
  const inner = createMemoryStore({ now: clock.now });
  const keys = createKeyspace('t:');
  const repo = createKeyRepository({ store: inner, keys, now: clock.now });
  const io = { mode: 'ok' as Mode, gets: 0 };
  const store: Pick<KeyValueStore, 'get'> = {
    get: (key) => {
      io.gets += 1;
      if (io.mode === 'throw') return Promise.reject(new Error('connect ECONNREFUSED'));
      if (io.mode === 'hang') return new Promise<string | null>(() => undefined);
      return inner.get(key);
    },
  };
  const auth = createKeyAuthenticator({
    store,
    keys,
    log: createNullLogger(),
    now: clock.now,
    cacheTtlMs: 3000,
    lookupTimeoutMs: 50,
    ...opts,
  });
  return { clock, repo, io, auth };
}

function statusOf(r: AuthResult): number {
  return r.ok ? 200 : r.error.status;
}

/**
 * The answer's status if it came before the event loop turned to timers or I/O, that is without waiting on the
 * store (a hanging one never answers; the lookup timeout is a timer): 'waited' otherwise. No clock is read.
 */
async function atOnce(answer: Promise<AuthResult>): Promise<number | 'waited'> {
  const waited = new Promise<'waited'>((resolve) => setImmediate(() => resolve('waited')));
  return Promise.race([answer.then(statusOf), waited]);
}

describe('key authenticator', () => {
  it('rejects a one-character typo without asking the store (whose get throws)', async () => {
    const { repo, io, auth } = setup();
    const { key } = await repo.create(SETTINGS);
    io.mode = 'throw';
    const typo = key.slice(0, 20) + (key.charAt(20) === 'a' ? 'b' : 'a') + key.slice(21);
    const r = await auth.authenticate(typo);
    expect(r.ok).toBe(false);
    if (!r.ok) expect([r.error.status, r.error.anthropicType]).toEqual([401, 'authentication_error']);
    expect(io.gets).toBe(0);
  });

  it('answers a missing key with 401 and no lookup', async () => {
    const { io, auth } = setup();
    for (const presented of [undefined, '']) {
      const r = await auth.authenticate(presented);
      expect(statusOf(r)).toBe(401);
    }
    expect(io.gets).toBe(0);
  });

  it('returns the record of a valid key, then serves it from the cache', async () => {
    const { repo, io, auth } = setup();
    const { key, record } = await repo.create({ ...SETTINGS, rpm: 5 });
    const first = await auth.authenticate(key);
    expect(first).toEqual({ ok: true, key: record });
    for (let i = 0; i < 10; i += 1) expect(statusOf(await auth.authenticate(key))).toBe(200);
    expect(io.gets).toBe(1);
  });

  it('caches unknown keys too: one lookup per TTL, the same shape as a revoked key', async () => {
    const { io, auth, clock } = setup();
    const unknown = generateGatewayKey();
    for (let i = 0; i < 5; i += 1) expect(statusOf(await auth.authenticate(unknown))).toBe(401);
    expect(io.gets).toBe(1);
    clock.advance(3000);
    expect(statusOf(await auth.authenticate(unknown))).toBe(401);
    expect(io.gets).toBe(2);
  });

  it('never serves a cached answer older than the TTL: an idle key sees its revocation at once', async () => {
    const { repo, auth, clock } = setup();
    const { key, record } = await repo.create(SETTINGS);
    expect(statusOf(await auth.authenticate(key))).toBe(200);
    await repo.revoke(record.id);
    clock.advance(3000);
    expect(statusOf(await auth.authenticate(key))).toBe(401);
  });

  it('picks up a revocation of a busy key through the background refresh, within the TTL', async () => {
    const { repo, auth, clock } = setup();
    const { key, record } = await repo.create(SETTINGS);
    expect(statusOf(await auth.authenticate(key))).toBe(200);
    await repo.revoke(record.id);
    clock.advance(1000); // refreshAfterMs: this request is served from the cache and starts a re-read
    expect(statusOf(await auth.authenticate(key))).toBe(200);
    await new Promise((r) => setImmediate(r));
    expect(statusOf(await auth.authenticate(key))).toBe(401);
  });

  it('refreshes a busy key in the background: the request does not wait for the store', async () => {
    const { repo, io, auth, clock } = setup({ lookupTimeoutMs: 10_000 });
    const { key } = await repo.create(SETTINGS);
    await auth.authenticate(key);
    io.mode = 'hang';
    clock.advance(1500); // older than refreshAfterMs (1000), younger than the TTL
    expect(await atOnce(auth.authenticate(key))).toBe(200);
    expect(io.gets).toBe(2);
  });

  it('refuses disabled and expired keys with the same 401 as an unknown one', async () => {
    const { repo, auth, clock } = setup();
    const disabled = await repo.create({ ...SETTINGS, enabled: false });
    const expiring = await repo.create({ ...SETTINGS, expiresAt: clock.now() + 60_000 });
    const unknown = await auth.authenticate(generateGatewayKey());
    const off = await auth.authenticate(disabled.key);
    expect(statusOf(off)).toBe(401);
    expect(statusOf(await auth.authenticate(expiring.key))).toBe(200);
    clock.advance(60_000);
    const expired = await auth.authenticate(expiring.key);
    expect(statusOf(expired)).toBe(401);
    const messages = [unknown, off, expired].map((r) => (r.ok ? '' : r.error.message));
    expect(new Set(messages).size).toBe(1);
  });

  it('keeps known keys working through a Redis outage, without waiting on it; unseen keys get 503', async () => {
    const { repo, io, auth, clock } = setup();
    const { key } = await repo.create(SETTINGS);
    const other = await repo.create(SETTINGS);
    await auth.authenticate(key);
    io.mode = 'throw';
    clock.advance(10_000); // well past the TTL
    expect(statusOf(await auth.authenticate(key))).toBe(200);
    io.mode = 'hang';
    // 20 requests, none waits for the store or its 50 ms timeout.
    for (let i = 0; i < 20; i += 1) expect(await atOnce(auth.authenticate(key))).toBe(200);
    const unseen = await auth.authenticate(other.key);
    expect(unseen.ok).toBe(false);
    if (!unseen.ok) expect([unseen.error.status, unseen.error.retryAfterSec]).toEqual([503, 1]);
  });

  it('gives up on stale answers after staleIfErrorMs', async () => {
    const { repo, io, auth, clock } = setup({ staleIfErrorMs: 60_000 });
    const { key } = await repo.create(SETTINGS);
    await auth.authenticate(key);
    io.mode = 'throw';
    clock.advance(59_000);
    expect(statusOf(await auth.authenticate(key))).toBe(200);
    clock.advance(2_000);
    expect(statusOf(await auth.authenticate(key))).toBe(503);
  });

  it('bounds a hanging store by the lookup timeout', async () => {
    const { repo, io, auth } = setup({ lookupTimeoutMs: 50 });
    const { key } = await repo.create(SETTINGS);
    io.mode = 'hang';
    // The store never answers: only the lookup timeout can end this (the limit is 200 times it, for a loaded machine).
    expect(statusOf(await withDeadline(auth.authenticate(key), 10_000, 'authenticate on a hung store'))).toBe(503);
  });

  it('shares one lookup between concurrent requests for the same key', async () => {
    const { repo, io, auth } = setup();
    const { key } = await repo.create(SETTINGS);
    const results = await Promise.all(Array.from({ length: 20 }, () => auth.authenticate(key)));
    expect(results.every((r) => r.ok)).toBe(true);
    expect(io.gets).toBe(1);
  });

  it('keeps junk keys from evicting known ones', async () => {
    const { repo, io, auth } = setup({ maxEntries: 10 });
    const { key } = await repo.create(SETTINGS);
    await auth.authenticate(key);
    for (let i = 0; i < 50; i += 1) await auth.authenticate(generateGatewayKey());
    const before = io.gets;
    expect(statusOf(await auth.authenticate(key))).toBe(200);
    expect(io.gets).toBe(before);
  });
});
