import { backoffDelay } from './backoff.js';

const policy = { baseMs: 1_000, maxMs: 60_000 };

describe('backoffDelay', () => {
  test('doubles per attempt and is capped', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => backoffDelay(n, policy, mid))).toEqual([
      750, 1500, 3000, 6000, 12000, 24000, 45000, 45000,
    ]);
  });

  test('jitter spreads each delay between half and all of the exponential step', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(2_000);
    expect(backoffDelay(3, policy, () => 0.999999)).toBe(4_000);
  });

  test("honours the server's retry-after as a floor, within the cap", () => {
    expect(backoffDelay(1, policy, () => 0, 30_000)).toBe(30_000);
    expect(backoffDelay(1, policy, () => 0, 3_600_000)).toBe(60_000);
  });
});
