// The failed-authentication throttle on its own, with an injected clock: the limit per address, the window, the one
// warn line per address per window, other addresses unaffected, and a table that never holds more than maxAddresses.
import { recordingLog, type LogLine } from '@switchyard/testkit';
import { createAuthThrottle, DEFAULT_AUTH_THROTTLE } from './auth-throttle.js';

const T0 = 1_800_000_000_000;

describe('auth throttle', () => {
  let clock = T0;
  const now = () => clock;
  beforeEach(() => {
    clock = T0;
  });

  it('lets an address fail maxFailures times, then refuses it for the rest of its window, then forgets it', () => {
    const throttle = createAuthThrottle({ now, log: recordingLog([]) });
    for (let i = 0; i < DEFAULT_AUTH_THROTTLE.maxFailures; i += 1) {
      expect(throttle.blockedFor('10.0.0.1')).toBeUndefined();
      throttle.recordFailure('10.0.0.1');
      clock += 1000;
    }
    // Ten failures over 10 s: refused for the 50 s left of the window that opened at the first one.
    expect(throttle.blockedFor('10.0.0.1')).toBe(50_000);
    clock = T0 + 59_999;
    expect(throttle.blockedFor('10.0.0.1')).toBe(1);
    clock = T0 + 60_000;
    expect(throttle.blockedFor('10.0.0.1')).toBeUndefined();
    // A fresh window: one failure is far from the limit again.
    throttle.recordFailure('10.0.0.1');
    expect(throttle.blockedFor('10.0.0.1')).toBeUndefined();
  });

  it('logs one warn line per address per window, when it reaches the limit, and a debug line at its first failure only', () => {
    const lines: LogLine[] = [];
    const throttle = createAuthThrottle({ now, log: recordingLog(lines), maxFailures: 3, windowMs: 30_000 });
    for (let i = 0; i < 3; i += 1) throttle.recordFailure('10.0.0.1');
    expect(lines).toEqual([
      { level: 'debug', message: 'admin authentication failed', meta: { ip: '10.0.0.1', windowSeconds: 30 } },
      {
        level: 'warn',
        message: 'admin authentication failures',
        meta: { ip: '10.0.0.1', failures: 3, windowSeconds: 30, refusedForSeconds: 30 },
      },
    ]);
    clock += 30_000;
    for (let i = 0; i < 3; i += 1) throttle.recordFailure('10.0.0.1');
    expect(lines.filter((l) => l.level === 'warn')).toHaveLength(2); // the next window's one line
  });

  it('counts each address apart: one past the limit leaves the others untouched', () => {
    const throttle = createAuthThrottle({ now, log: recordingLog([]), maxFailures: 2 });
    throttle.recordFailure('10.0.0.1');
    throttle.recordFailure('10.0.0.1');
    throttle.recordFailure('::ffff:10.0.0.2');
    expect(throttle.blockedFor('10.0.0.1')).toBe(60_000);
    expect(throttle.blockedFor('::ffff:10.0.0.2')).toBeUndefined();
    expect(throttle.blockedFor('10.0.0.3')).toBeUndefined();
  });

  it('holds at most maxAddresses addresses, forgetting the least recently seen first', () => {
    const throttle = createAuthThrottle({ now, log: recordingLog([]), maxFailures: 1, maxAddresses: 100 });
    throttle.recordFailure('blocked');
    for (let i = 0; i < 1_000; i += 1) {
      throttle.recordFailure(`10.1.${i >> 8}.${i & 255}`);
      // A blocked address that keeps coming back stays tracked: it is the most recently seen.
      if (i % 50 === 0) expect(throttle.blockedFor('blocked')).toBeDefined();
    }
    expect(throttle.size).toBe(100);
    expect(throttle.blockedFor('10.1.0.0')).toBeUndefined(); // long forgotten
    expect(throttle.blockedFor('10.1.3.231')).toBeDefined(); // the last one
  });

  it('refuses settings that are no limit', () => {
    for (const bad of [{ maxFailures: 0 }, { windowMs: -1 }, { maxAddresses: 1.5 }]) {
      expect(() => createAuthThrottle({ ...bad, log: recordingLog([]) })).toThrow(RangeError);
    }
  });
});
