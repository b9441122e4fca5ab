import { createHash } from 'node:crypto';
import { GATEWAY_KEY_LENGTH, generateGatewayKey, isWellFormedGatewayKey, keyDigest, keyHint } from './gateway-key.js';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

function substitute(s: string, index: number, offset: number): string {
  const current = BASE62.indexOf(s.charAt(index));
  return s.slice(0, index) + BASE62.charAt((current + offset) % 62) + s.slice(index + 1);
}

describe('gateway key format', () => {
  it("is 'sy-' + 43 base62 characters of randomness + a 6-character checksum", () => {
    const key = generateGatewayKey();
    expect(key).toMatch(/^sy-[0-9A-Za-z]{49}$/);
    expect(key).toHaveLength(GATEWAY_KEY_LENGTH);
    expect(isWellFormedGatewayKey(key)).toBe(true);
  });

  it('never repeats', () => {
    const keys = new Set(Array.from({ length: 2000 }, () => generateGatewayKey()));
    expect(keys.size).toBe(2000);
  });

  it('uses the whole alphabet in the random part (not a short or biased encoding)', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i += 1) for (const c of generateGatewayKey().slice(4, 46)) seen.add(c);
    expect(seen.size).toBe(62);
  });

  it("accepts keys checksummed the way earlier versions did (BigInt base62 of the hash's first 4 bytes)", () => {
    const bigintChecksum = (s: string): string => {
      let n = BigInt(createHash('sha256').update(s, 'utf8').digest().readUInt32BE(0));
      let out = '';
      while (n > 0n) {
        out = BASE62.charAt(Number(n % 62n)) + out;
        n /= 62n;
      }
      return out.padStart(6, '0');
    };
    for (let i = 0; i < 500; i += 1) {
      const head = generateGatewayKey().slice(0, -6);
      expect(isWellFormedGatewayKey(head + bigintChecksum(head))).toBe(true);
    }
  });

  it('rejects every one-character typo, in the random part and in the checksum', () => {
    const key = generateGatewayKey();
    const accepted: string[] = [];
    for (let i = 3; i < key.length; i += 1) {
      for (const offset of [1, 7, 31]) {
        const typo = substitute(key, i, offset);
        if (isWellFormedGatewayKey(typo)) accepted.push(typo);
      }
    }
    expect(accepted).toEqual([]);
  });

  it('rejects swapped neighbours, truncation, extra characters, other prefixes and non-ASCII look-alikes', () => {
    const key = generateGatewayKey();
    const swapped = key.slice(0, 10) + key.charAt(11) + key.charAt(10) + key.slice(12);
    const bad = [
      '',
      'sy-',
      key.slice(0, -1),
      `${key}a`,
      `SY-${key.slice(3)}`,
      `sk-${key.slice(3)}`,
      `${key.slice(0, 20)}é${key.slice(21)}`,
      `${key.slice(0, 20)}-${key.slice(21)}`,
      ` ${key.slice(1)}`,
    ];
    if (swapped !== key) bad.push(swapped);
    for (const s of bad) expect(isWellFormedGatewayKey(s)).toBe(false);
  });

  it('digests to 64 lowercase hex characters, different per key', () => {
    const a = generateGatewayKey();
    const b = generateGatewayKey();
    expect(keyDigest(a)).toMatch(/^[0-9a-f]{64}$/);
    expect(keyDigest(a)).toBe(keyDigest(a));
    expect(keyDigest(a)).not.toBe(keyDigest(b));
  });

  it('hints with the prefix, 4 leading and 4 trailing characters, and nothing a log redactor would take for a key', () => {
    const key = generateGatewayKey();
    const hint = keyHint(key);
    expect(hint).toBe(`${key.slice(0, 7)}…${key.slice(-4)}`);
    expect(hint).not.toMatch(/sy-[A-Za-z0-9_-]{16,}/);
  });
});
