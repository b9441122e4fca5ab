import { createRandomPool } from './random-pool.js';

describe('random pool', () => {
  it('draws base64url strings of the requested size, never the same twice across refills', () => {
    const draw = createRandomPool(16, 8);
    const seen = new Set<string>();
    for (let i = 0; i < 5_000; i += 1) {
      const s = draw();
      expect(s).toMatch(/^[A-Za-z0-9_-]{22}$/);
      seen.add(s);
    }
    expect(seen.size).toBe(5_000);
  });

  it('spreads its bits over the whole alphabet (no zeroed or reused bytes)', () => {
    const draw = createRandomPool(18, 4);
    const chars = new Set<string>();
    for (let i = 0; i < 200; i += 1) for (const c of draw()) chars.add(c);
    expect(chars.size).toBe(64);
  });
});
