import {
  encodeInFlight,
  othersInFlight,
  othersInWindow,
  secondsToNextMinute,
  secondsToNextUtcDay,
  usageTotal,
} from './limit-state.js';

const NOON = Date.UTC(2030, 0, 1, 12, 0, 0);

describe('retry-after helpers', () => {
  it('counts whole seconds to the next minute, at least 1', () => {
    expect(secondsToNextMinute(NOON + 30_200)).toBe(30);
    expect(secondsToNextMinute(NOON)).toBe(60);
    expect(secondsToNextMinute(NOON + 59_999)).toBe(1);
  });

  it('counts whole seconds to the next 00:00 UTC, at least 1', () => {
    expect(secondsToNextUtcDay(NOON)).toBe(12 * 3600);
    expect(secondsToNextUtcDay(Date.UTC(2030, 0, 1, 23, 59, 59, 900))).toBe(1);
  });
});

describe('reading the shared hashes', () => {
  it('sums the other instances’ window fields and skips its own and garbage', () => {
    expect(othersInWindow({ me: '5', a: '2', b: '3', c: 'x', d: '-4' }, 'me')).toBe(5);
    expect(othersInWindow({}, 'me')).toBe(0);
  });

  it('counts other instances’ in-flight only while their timestamp is fresh', () => {
    const hash = {
      me: encodeInFlight(9, NOON),
      fresh: encodeInFlight(2, NOON - 1_000),
      edge: encodeInFlight(1, NOON - 5_000),
      dead: encodeInFlight(7, NOON - 5_001),
      junk: 'nonsense',
    };
    expect(othersInFlight(hash, 'me', NOON, 5_000)).toBe(3);
  });

  it('sums the four token fields of a usage hash and nothing else', () => {
    const hash = {
      inputTokens: '100',
      outputTokens: '20',
      cacheCreationInputTokens: '3',
      cacheReadInputTokens: '4',
      requests: '1000',
    };
    expect(usageTotal(hash)).toBe(127);
    expect(usageTotal({})).toBe(0);
  });
});
