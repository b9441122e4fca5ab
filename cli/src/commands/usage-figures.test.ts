// The dollars and cache shares `switchyard usage` prints.
import { formatShare, formatUsdMicros } from './usage-figures.js';

describe('usage figures', () => {
  it('shows micro-dollars as dollars exactly, with two to six decimals', () => {
    expect(formatUsdMicros(0)).toBe('$0.00');
    expect(formatUsdMicros(1_500_000)).toBe('$1.50');
    expect(formatUsdMicros(123)).toBe('$0.000123');
    expect(formatUsdMicros(300_090)).toBe('$0.30009');
    expect(formatUsdMicros(12_345_678)).toBe('$12.345678');
    expect(formatUsdMicros(1_234_567_000)).toBe('$1,234.567');
    expect(formatUsdMicros(10_000)).toBe('$0.01');
  });

  it('signs what caching cost rather than saved', () => {
    expect(formatUsdMicros(-1_250)).toBe('-$0.00125');
    expect(formatUsdMicros(-2_000_000)).toBe('-$2.00');
  });

  it('reads back as the number the API answers', () => {
    for (const micros of [1, 99, 100_000, 200_000, 987_654_321, 4_503_599_627_370]) {
      expect(Number(formatUsdMicros(micros).replace(/[$,]/g, ''))).toBe(micros / 1e6);
    }
  });

  it('shows the cache-read share to a tenth of a percent, and none without input', () => {
    expect(formatShare(1000 / 1110)).toBe('90.1%');
    expect(formatShare(0)).toBe('0.0%');
    expect(formatShare(1)).toBe('100.0%');
    expect(formatShare(null)).toBe('-');
  });
});
