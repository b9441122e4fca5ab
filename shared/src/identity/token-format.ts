// The shape of Switchyard's bearer secrets (gateway keys `sy-…`, node tokens `syn-…`): a prefix, 32 random
// bytes in base62 and a 6-character checksum. The checksum lets a server turn away typos and junk without
// a Redis lookup; it is no secret. Only the SHA-256 of a token is ever stored.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const BODY_CHARS = 43; // 62^43 > 2^256, so 32 bytes always fit.
const CHECKSUM_CHARS = 6; // 62^6 > 2^32.
const RANDOM_BYTES = 32;

function base62(value: bigint, width: number): string {
  let out = '';
  let n = value;
  while (n > 0n) {
    out = ALPHABET.charAt(Number(n % 62n)) + out;
    n /= 62n;
  }
  return out.padStart(width, '0');
}

// The checksum is a uint32: plain number arithmetic, not BigInt (gateway keys are checked on every request,
// and the BigInt division loop was two thirds of the authenticator's ~30 µs per request).
function checksumOf(prefixAndBody: string): string {
  let n = createHash('sha256').update(prefixAndBody, 'utf8').digest().readUInt32BE(0);
  let out = '';
  while (n > 0) {
    out = ALPHABET.charAt(n % 62) + out;
    n = Math.floor(n / 62);
  }
  return out.padStart(CHECKSUM_CHARS, '0');
}

/** One family of tokens with a common prefix. */
export interface TokenFormat {
  readonly prefix: string;
  /** Length of every token of this format. */
  readonly length: number;
  /** A new token: prefix + 32 random bytes in base62 + checksum. Shown once; store only its digest. */
  generate(): string;
  /**
   * Whether `s` has this format and its checksum matches. Every string of the right length costs the
   * same (one regex pass, one hash, a constant-time compare), whatever is wrong with it.
   */
  isWellFormed(s: string): boolean;
  /** A form that is safe to show and log, e.g. 'syn-AbCd…wxyz' (4 random characters and 4 of the checksum). */
  hint(token: string): string;
}

/**
 * The token format with this prefix.
 * @example
 * const nodeTokens = tokenFormat('syn-');
 * const token = nodeTokens.generate(); // 'syn-3kR…' (53 characters)
 * nodeTokens.isWellFormed(token); // true
 */
export function tokenFormat(prefix: string): TokenFormat {
  const length = prefix.length + BODY_CHARS + CHECKSUM_CHARS;
  const shape = new RegExp(`^${prefix.replace(/[-.]/g, '\\$&')}[0-9A-Za-z]{${BODY_CHARS + CHECKSUM_CHARS}}$`);
  return {
    prefix,
    length,
    generate() {
      const body = base62(BigInt(`0x${randomBytes(RANDOM_BYTES).toString('hex')}`), BODY_CHARS);
      return prefix + body + checksumOf(prefix + body);
    },
    isWellFormed(s) {
      if (s.length !== length) return false;
      const shaped = shape.test(s);
      const split = length - CHECKSUM_CHARS;
      const expected = Buffer.from(checksumOf(s.slice(0, split)), 'latin1');
      // latin1 keeps one byte per UTF-16 unit, so both buffers are CHECKSUM_CHARS long whatever s holds.
      const given = Buffer.from(s.slice(split), 'latin1');
      return timingSafeEqual(expected, given) && shaped;
    },
    hint: (token) => `${token.slice(0, prefix.length + 4)}…${token.slice(-4)}`,
  };
}

/** The SHA-256 hex of a presented token: the only form in which a token reaches Redis. */
export function tokenDigest(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Node tokens: `syn-` + 32 random bytes + checksum. The gateway stores only the digest; the node derives its sealing key from it. */
export const NodeTokens: TokenFormat = tokenFormat('syn-');
