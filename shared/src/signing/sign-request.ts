import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Gateway → node request signing. The gateway signs every request it forwards with HMAC-SHA256 over
 * the method, path (with query), a timestamp, a one-time nonce, the target node, the key id, the
 * request id and the SHA-256 of the body. The node checks all of it before anything reaches Anthropic.
 */
export const SignatureHeaders = {
  timestamp: 'x-switchyard-timestamp',
  nonce: 'x-switchyard-nonce',
  node: 'x-switchyard-node',
  keyId: 'x-switchyard-key-id',
  requestId: 'x-switchyard-request-id',
  signature: 'x-switchyard-signature',
} as const;

/** Every header the signature covers or carries; a node strips them before forwarding upstream. */
export const SIGNATURE_HEADER_NAMES: readonly string[] = Object.values(SignatureHeaders);

/** What a signature covers. */
export interface SignedFields {
  method: string;
  /** Path with query string, exactly as sent on the request line. */
  path: string;
  timestampMs: number;
  nonce: string;
  nodeId: string;
  keyId: string;
  requestId: string;
  /** SHA-256 hex of the body bytes (of an empty buffer for no body). */
  bodySha256: string;
}

/** SHA-256 hex of a body (Buffer chunks or one buffer). */
export function bodyDigest(body: Buffer | readonly Buffer[]): string {
  const h = createHash('sha256');
  if (Buffer.isBuffer(body)) h.update(body);
  else for (const chunk of body) h.update(chunk);
  return h.digest('hex');
}

function canonical(f: SignedFields): string {
  return [f.method.toUpperCase(), f.path, String(f.timestampMs), f.nonce, f.nodeId, f.keyId, f.requestId, f.bodySha256].join('\n');
}

function hmac(secret: string, f: SignedFields): Buffer {
  return createHmac('sha256', secret).update(canonical(f)).digest();
}

/**
 * The headers that carry a signed request from the gateway to one node.
 *
 * @example
 * const headers = signRequest(secret, { method: 'POST', path: '/v1/messages?beta=true', nodeId, keyId, requestId, body });
 */
export function signRequest(
  secret: string,
  input: Omit<SignedFields, 'timestampMs' | 'nonce' | 'bodySha256'> & ({ body: Buffer } | { bodySha256: string }) & { timestampMs?: number; nonce?: string },
): Record<string, string> {
  const fields: SignedFields = {
    method: input.method,
    path: input.path,
    timestampMs: input.timestampMs ?? Date.now(),
    nonce: input.nonce ?? randomBytes(16).toString('base64url'),
    nodeId: input.nodeId,
    keyId: input.keyId,
    requestId: input.requestId,
    // A caller that signs one body several times (failover) hashes it once and passes the digest.
    bodySha256: 'bodySha256' in input ? input.bodySha256 : bodyDigest(input.body),
  };
  return {
    [SignatureHeaders.timestamp]: String(fields.timestampMs),
    [SignatureHeaders.nonce]: fields.nonce,
    [SignatureHeaders.node]: fields.nodeId,
    [SignatureHeaders.keyId]: fields.keyId,
    [SignatureHeaders.requestId]: fields.requestId,
    [SignatureHeaders.signature]: hmac(secret, fields).toString('hex'),
  };
}

/** Why a signature was refused (logged by the node; the client only sees 401). */
export type SignatureFailure = 'missing' | 'malformed' | 'wrong_node' | 'stale' | 'replayed' | 'bad_signature';

export type SignatureCheck = { ok: true; keyId: string; requestId: string } | { ok: false; reason: SignatureFailure };

/** Remembers nonces for the skew window so a captured request cannot be sent twice. */
export interface NonceCache {
  /** True the first time a nonce is seen within its lifetime, false for a replay. */
  claim(nonce: string, nowMs: number): boolean;
}

/**
 * An in-memory nonce cache whose entries live `ttlMs`, bounded to `maxEntries` (the oldest go first:
 * past the bound a replay could only succeed for a nonce older than the newest `maxEntries` ones,
 * and the timestamp check still limits it to the skew window).
 */
export function createNonceCache(ttlMs: number, maxEntries = 200_000): NonceCache {
  const seen = new Map<string, number>();
  return {
    claim(nonce, nowMs) {
      for (const [n, expires] of seen) {
        if (expires > nowMs && seen.size <= maxEntries) break;
        seen.delete(n);
      }
      const prior = seen.get(nonce);
      if (prior !== undefined && prior > nowMs) return false;
      seen.delete(nonce); // re-inserted at the end, so the map stays in expiry order
      seen.set(nonce, nowMs + ttlMs);
      return true;
    },
  };
}

type HeaderValue = string | string[] | undefined;

function one(v: HeaderValue): string | undefined {
  return Array.isArray(v) ? undefined : v;
}

/**
 * Checks a request's signature on the node: present and well-formed, meant for this node, within
 * ±`maxSkewMs`, not seen before, and matching the method, path and body received. The nonce is only
 * claimed once the HMAC matches, so forged requests cannot evict or burn real nonces.
 */
export function verifyRequest(
  secret: string,
  req: { method: string; path: string; headers: Readonly<Record<string, HeaderValue>>; body: Buffer },
  opts: { nodeId: string; nonces: NonceCache; nowMs?: number; maxSkewMs?: number },
): SignatureCheck {
  const h = req.headers;
  const ts = one(h[SignatureHeaders.timestamp]);
  const nonce = one(h[SignatureHeaders.nonce]);
  const node = one(h[SignatureHeaders.node]);
  const keyId = one(h[SignatureHeaders.keyId]);
  const requestId = one(h[SignatureHeaders.requestId]);
  const sig = one(h[SignatureHeaders.signature]);
  if (!ts || !nonce || !node || !keyId || !requestId || !sig) return { ok: false, reason: 'missing' };
  const timestampMs = Number(ts);
  if (!/^\d{1,16}$/.test(ts) || !/^[0-9a-f]{64}$/.test(sig)) return { ok: false, reason: 'malformed' };
  if (node !== opts.nodeId) return { ok: false, reason: 'wrong_node' };
  const now = opts.nowMs ?? Date.now();
  if (Math.abs(now - timestampMs) > (opts.maxSkewMs ?? 60_000)) return { ok: false, reason: 'stale' };
  const expected = hmac(secret, { method: req.method, path: req.path, timestampMs, nonce, nodeId: node, keyId, requestId, bodySha256: bodyDigest(req.body) });
  if (!timingSafeEqual(expected, Buffer.from(sig, 'hex'))) return { ok: false, reason: 'bad_signature' };
  if (!opts.nonces.claim(nonce, now)) return { ok: false, reason: 'replayed' };
  return { ok: true, keyId, requestId };
}
