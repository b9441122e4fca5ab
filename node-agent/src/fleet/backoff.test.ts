import { createBackoff } from './backoff.js';

describe('tunnel backoff', () => {
  test('doubles from 250 ms to the 30 s cap, each delay in [cap/2, cap]', () => {
    const low = createBackoff({ random: () => 0 });
    const high = createBackoff({ random: () => 0.999999 });
    const lows = Array.from({ length: 10 }, () => low.fail());
    const highs = Array.from({ length: 10 }, () => high.fail());
    expect(highs).toEqual([250, 500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]);
    expect(lows).toEqual([125, 250, 500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });

  test('the slow end is the cap with jitter; reset starts over', () => {
    const backoff = createBackoff({ random: () => 0.5 });
    expect(backoff.slowest()).toBe(22500);
    backoff.fail();
    expect(backoff.failures).toBe(2);
    backoff.reset();
    expect(backoff.failures).toBe(0);
    expect(backoff.fail()).toBe(188);
  });

  test('never zero, whatever the random source says', () => {
    const backoff = createBackoff({ baseMs: 1, random: () => 0 });
    expect(backoff.fail()).toBeGreaterThan(0);
  });
});
