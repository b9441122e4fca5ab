// The shape of a gateway key: 'sy-' + 43 base62 characters (32 random bytes) + a 6-character checksum.
// The checksum lets the gateway turn away typos and junk without a Redis lookup; it is no secret.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const PREFIX = 'sy-';
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BODY_CHARS = 43; // 62^43 > 2^256, so 32 bytes always fit.
const CHECKSUM_CHARS = 6; // 62^6 > 2^32.
const RANDOM_BYTES = 32;
/** Length of every gateway key. */
export const GATEWAY_KEY_LENGTH = PREFIX.length + BODY_CHARS + CHECKSUM_CHARS;
const KEY_RE = new RegExp(`^${PREFIX}[0-9A-Za-z]{${BODY_CHARS + CHECKSUM_CHARS}}$`);

function base62(value: bigint, width: number): string {
  let out = '';
  let n = value;
  while (n > 0n) {
    out = ALPHABET.charAt(Number(n % 62n)) + out;
    n /= 62n;
  }
  return out.padStart(width, '0');
}

// The checksum is a uint32: plain number arithmetic, not BigInt (this runs on every request, and the
// BigInt division loop was two thirds of the authenticator's ~30 µs per request).
function checksumOf(prefixAndBody: string): string {
  let n = createHash('sha256').update(prefixAndBody, 'utf8').digest().readUInt32BE(0);
  let out = '';
  while (n > 0) {
    out = ALPHABET.charAt(n % 62) + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(CHECKSUM_CHARS, '0');
}

/**
 * A new gateway key: `sy-` + 32 random bytes in base62 + a checksum. Shown to the admin once; only its digest is stored.
 * @example generateGatewayKey(); // 'sy-3kR…' (52 characters)
 */
export function generateGatewayKey(): string {
  const body = base62(BigInt(`0x${randomBytes(RANDOM_BYTES).toString('hex')}`), BODY_CHARS);
  return PREFIX + body + checksumOf(PREFIX + body);
}

/**
 * Whether `s` has the shape of a gateway key and its checksum matches. Every string of the right length
 * costs the same (one regex pass, one hash, a constant-time compare), whatever is wrong with it.
 */
export function isWellFormedGatewayKey(s: string): boolean {
  if (s.length !== GATEWAY_KEY_LENGTH) return false;
  const shaped = KEY_RE.test(s);
  const split = GATEWAY_KEY_LENGTH - CHECKSUM_CHARS;
  const expected = Buffer.from(checksumOf(s.slice(0, split)), 'latin1');
  // latin1 keeps one byte per UTF-16 unit, so both buffers are CHECKSUM_CHARS long whatever s holds.
  const given = Buffer.from(s.slice(split), 'latin1');
  return timingSafeEqual(expected, given) && shaped;
}

/** The SHA-256 hex of a presented key: the only form in which a key reaches Redis. */
export function keyDigest(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A form of the key that is safe to show and log, e.g. 'sy-AbCd…wxyz' (4 random characters and 4 of the checksum). */
export function keyHint(key: string): string {
  return `${key.slice(0, PREFIX.length + 4)}…${key.slice(-4)}`;
}
