/**
 * A deterministic random number generator (mulberry32) for tests: the same seed gives the same
 * sequence, so a failing random chunking or payload can be reproduced from its seed.
 * @example
 * const random = seededRandom(7);
 * const size = 1 + Math.floor(random() * 97);
 */
export function seededRandom(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
