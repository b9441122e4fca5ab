// Dollars and cache figures of `switchyard usage` as people read them: exact to the micro-dollar the gateway counts.

/**
 * Integer micro-dollars as dollars, exact (no float is involved): at least two decimals, up to the six a
 * micro-dollar needs. 1_500_000 → "$1.50", 123 → "$0.000123", -1_250 → "-$0.00125", 1_234_567_000 → "$1,234.567".
 */
export function formatUsdMicros(micros: number): string {
  const whole = Math.round(micros);
  const sign = whole < 0 ? '-' : '';
  const abs = Math.abs(whole);
  const dollars = Math.floor(abs / 1_000_000).toLocaleString('en-US');
  const fraction = String(abs % 1_000_000)
    .padStart(6, '0')
    .replace(/0{1,4}$/, '');
  return `${sign}$${dollars}.${fraction}`;
}

/** A share of input read from the cache: 0.9009 → "90.1%"; null (nothing sent) → "-". */
export function formatShare(share: number | null): string {
  return share === null ? '-' : `${(share * 100).toFixed(1)}%`;
}
