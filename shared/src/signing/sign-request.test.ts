import { bodyDigest, createNonceCache, signRequest, verifyRequest, type NonceCache } from './sign-request.js';

const secret = 'x'.repeat(32);
const body = Buffer.from('{"model":"claude-sonnet-4-6","messages":[]}');
const base = { method: 'POST', path: '/v1/messages?beta=true', nodeId: 'node-a', keyId: 'key_1', requestId: 'req_1' };

function check(headers: Record<string, string>, over: Partial<{ method: string; path: string; body: Buffer; nowMs: number; nodeId: string; nonces: NonceCache }> = {}) {
  return verifyRequest(
    secret,
    { method: over.method ?? 'POST', path: over.path ?? base.path, headers, body: over.body ?? body },
    { nodeId: over.nodeId ?? 'node-a', nonces: over.nonces ?? createNonceCache(120_000), ...(over.nowMs === undefined ? {} : { nowMs: over.nowMs }) },
  );
}

describe('request signing', () => {
  it('accepts a fresh, untampered request once and carries its key and request ids', () => {
    const nonces = createNonceCache(120_000);
    const headers = signRequest(secret, { ...base, body });
    expect(check(headers, { nonces })).toEqual({ ok: true, keyId: 'key_1', requestId: 'req_1' });
    expect(check(headers, { nonces })).toEqual({ ok: false, reason: 'replayed' });
  });

  it.each([
    ['a changed body', { body: Buffer.from('{"model":"claude-opus-4-1","messages":[]}') }, 'bad_signature'],
    ['a changed path', { path: '/v1/messages/count_tokens' }, 'bad_signature'],
    ['a changed method', { method: 'GET' }, 'bad_signature'],
    ['another node', { nodeId: 'node-b' }, 'wrong_node'],
    ['a timestamp 61 s old', { nowMs: Date.now() + 61_000 }, 'stale'],
    ['a timestamp 61 s ahead', { nowMs: Date.now() - 61_000 }, 'stale'],
  ])('refuses %s', (_name, over, reason) => {
    expect(check(signRequest(secret, { ...base, body }), over)).toEqual({ ok: false, reason });
  });

  it('signs a precomputed body digest the same way (a failover signs one body several times)', () => {
    const fixed = { timestampMs: Date.now(), nonce: 'n-1' };
    expect(signRequest(secret, { ...base, ...fixed, bodySha256: bodyDigest(body) })).toEqual(signRequest(secret, { ...base, ...fixed, body }));
    expect(check(signRequest(secret, { ...base, bodySha256: bodyDigest(Buffer.from('other')) }))).toEqual({ ok: false, reason: 'bad_signature' });
  });

  it('refuses a wrong secret, missing headers and malformed values', () => {
    expect(check(signRequest('y'.repeat(32), { ...base, body }))).toEqual({ ok: false, reason: 'bad_signature' });
    const headers = signRequest(secret, { ...base, body });
    const { 'x-switchyard-signature': _sig, ...unsigned } = headers;
    expect(check(unsigned)).toEqual({ ok: false, reason: 'missing' });
    expect(check({ ...headers, 'x-switchyard-signature': 'zz' })).toEqual({ ok: false, reason: 'malformed' });
    expect(check({})).toEqual({ ok: false, reason: 'missing' });
  });

  it('does not let a forged request burn the nonce of a real one', () => {
    const nonces = createNonceCache(120_000);
    const real = signRequest(secret, { ...base, body });
    expect(check({ ...real, 'x-switchyard-signature': 'f'.repeat(64) }, { nonces })).toEqual({ ok: false, reason: 'bad_signature' });
    expect(check(real, { nonces }).ok).toBe(true);
  });

  it('forgets nonces after their lifetime and stays bounded', () => {
    const cache = createNonceCache(1_000, 3);
    expect(cache.claim('a', 0)).toBe(true);
    expect(cache.claim('a', 500)).toBe(false);
    expect(cache.claim('a', 1_500)).toBe(true);
    for (const n of ['b', 'c', 'd', 'e']) cache.claim(n, 1_600);
    expect(cache.claim('e', 1_700)).toBe(false);
  });
});
