import { randomFillSync } from 'node:crypto';

/**
 * Random strings of `bytes` CSPRNG bytes in base64url, drawn from a buffer refilled `draws` at a time.
 * One `randomBytes(16)` call costs 6–25 µs on our 2-core machine (measured under load); a draw from the
 * pool well under 1 µs. Same generator, same output as `randomBytes(bytes).toString('base64url')`;
 * `crypto.randomUUID()` pools the same way.
 *
 * @example
 * const nonce = createRandomPool(16);
 * nonce(); // 'q7V0cV3b6D1kYl2mXw9s8A'
 */
export function createRandomPool(bytes: number, draws = 256): () => string {
  const pool = Buffer.allocUnsafe(bytes * draws);
  let at = pool.length;
  return function draw(): string {
    if (at === pool.length) {
      randomFillSync(pool);
      at = 0;
    }
    const out = pool.toString('base64url', at, at + bytes);
    // Each byte is handed out once.
    pool.fill(0, at, at + bytes);
    at += bytes;
    return out;
  };
}
