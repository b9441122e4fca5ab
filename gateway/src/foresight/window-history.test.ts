import { DEFAULT_HISTORY_OPTIONS, predictWindow, recordReading, type WindowHistory } from './window-history.js';

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;
const RESET = T0 + 4 * HOUR;

/** Feeds readings (minutes after T0, utilization) in order and answers the history. */
function feed(
  readings: [number, number][],
  resetAt: number | undefined = RESET,
  from?: WindowHistory,
): WindowHistory | undefined {
  let history = from;
  for (const [minute, utilization] of readings)
    history = recordReading(history, { utilization, ...(resetAt === undefined ? {} : { resetAt }) }, T0 + minute * MIN);
  return history;
}

describe('the burn rate', () => {
  it('is the rise over the recent readings per hour, and runs out before the reset at that rate', () => {
    // 0.20 → 0.40 over 20 minutes: 0.6 an hour; 0.6 of the limit is left, an hour from minute 20.
    const history = feed([
      [0, 0.2],
      [10, 0.3],
      [20, 0.4],
    ]);
    const window = predictWindow(history, { utilization: 0.4, resetAt: RESET }, T0 + 20 * MIN);
    expect(window.burnPerHour).toBeCloseTo(0.6, 10);
    expect(window.exhaustsAt).toBe(T0 + 20 * MIN + HOUR);
    expect(window).toMatchObject({ utilization: 0.4, resetAt: RESET, samples: 3, since: T0 });
  });

  it('lasts until the reset when the burn would reach the limit after it', () => {
    // 0.1 an hour from 0.5 reaches 1.0 in 5 hours; the window resets in 4.
    const history = feed([
      [0, 0.4],
      [60, 0.5],
    ]);
    const window = predictWindow(history, { utilization: 0.5, resetAt: RESET }, T0 + 60 * MIN);
    expect(window.burnPerHour).toBeCloseTo(0.1, 10);
    expect(window.exhaustsAt).toBeNull();
  });

  it('is measured up to now: readings that stopped rising slow it down', () => {
    const history = feed([
      [0, 0.2],
      [10, 0.5],
      [40, 0.5],
    ]);
    expect(predictWindow(history, { utilization: 0.5, resetAt: RESET }, T0 + 40 * MIN).burnPerHour).toBeCloseTo(
      0.3 / (40 / 60),
      10,
    );
  });

  it('needs two recent readings: one alone, or readings older than the lookback, say nothing', () => {
    expect(predictWindow(feed([[0, 0.5]]), { utilization: 0.5, resetAt: RESET }, T0).burnPerHour).toBe(0);
    const old = feed([
      [0, 0.2],
      [10, 0.5],
    ]);
    const later = predictWindow(
      old,
      { utilization: 0.5, resetAt: RESET },
      T0 + 10 * MIN + DEFAULT_HISTORY_OPTIONS.lookbackMs + MIN,
    );
    expect(later).toMatchObject({ burnPerHour: 0, exhaustsAt: null, samples: 0, since: null });
  });

  it('is never measured over less than the minimum span (a burst is not a rate)', () => {
    // +0.1 in 10 seconds is read as +0.1 over 5 minutes: 1.2 an hour, not 36.
    const history = recordReading(
      recordReading(undefined, { utilization: 0.3, resetAt: RESET }, T0),
      { utilization: 0.4, resetAt: RESET },
      T0 + 10_000,
    );
    const window = predictWindow(history, { utilization: 0.4, resetAt: RESET }, T0 + 10_000);
    expect(window.burnPerHour).toBeCloseTo(0.1 / (DEFAULT_HISTORY_OPTIONS.minSpanMs / HOUR), 10);
    expect(window.exhaustsAt).toBe(Math.round(T0 + 10_000 + (0.6 / window.burnPerHour) * HOUR));
  });

  it('predicts nothing for a flat window', () => {
    const window = predictWindow(
      feed([
        [0, 0.5],
        [30, 0.5],
      ]),
      { utilization: 0.5, resetAt: RESET },
      T0 + 30 * MIN,
    );
    expect(window).toMatchObject({ burnPerHour: 0, exhaustsAt: null, samples: 2 });
  });

  it('reports a window at the limit as out since it was first seen there', () => {
    const history = feed([
      [0, 0.8],
      [10, 1.0],
      [20, 1.02],
    ]);
    expect(predictWindow(history, { utilization: 1.02, resetAt: RESET }, T0 + 20 * MIN).exhaustsAt).toBe(T0 + 10 * MIN);
  });

  it('without a reset time, reports when it runs out whenever that is', () => {
    const history = feed(
      [
        [0, 0.1],
        [60, 0.2],
      ],
      undefined,
    );
    expect(predictWindow(history, { utilization: 0.2 }, T0 + 60 * MIN)).toMatchObject({
      resetAt: null,
      exhaustsAt: T0 + 60 * MIN + 8 * HOUR,
    });
  });

  it('says nothing of a window whose reset has passed (its figures describe a period that is over)', () => {
    const history = feed([
      [0, 0.5],
      [30, 0.9],
    ]);
    expect(predictWindow(history, { utilization: 0.9, resetAt: RESET }, RESET)).toMatchObject({
      burnPerHour: 0,
      exhaustsAt: null,
      samples: 0,
    });
    expect(recordReading(history, { utilization: 0.9, resetAt: RESET }, RESET)).toBeUndefined();
  });
});

describe('the history', () => {
  it('starts over when the reset moves forward (a new period)', () => {
    const before = feed([
      [0, 0.2],
      [30, 0.6],
    ]);
    const after = recordReading(before, { utilization: 0.6, resetAt: RESET + 5 * HOUR }, T0 + 31 * MIN);
    expect(after).toEqual({ resetAt: RESET + 5 * HOUR, samples: [{ at: T0 + 31 * MIN, utilization: 0.6 }] });
  });

  it('starts over when utilization drops, and keeps its reset through a reset time rounded back', () => {
    const dropped = recordReading(
      feed([
        [0, 0.2],
        [30, 0.6],
      ]),
      { utilization: 0.05, resetAt: RESET },
      T0 + 31 * MIN,
    );
    expect(dropped?.samples).toEqual([{ at: T0 + 31 * MIN, utilization: 0.05 }]);
    const rounded = recordReading(feed([[0, 0.2]]), { utilization: 0.3, resetAt: RESET - 1000 }, T0 + MIN);
    expect(rounded).toMatchObject({ resetAt: RESET });
    expect(rounded?.samples).toHaveLength(2);
    // A reset a few seconds later is the same period (headers carry whole seconds).
    expect(recordReading(rounded, { utilization: 0.31, resetAt: RESET + 1000 }, T0 + 2 * MIN)?.samples).toHaveLength(3);
  });

  it('stays bounded: a reading every second for two hours keeps at most maxSamples, spread over the lookback', () => {
    let history: WindowHistory | undefined;
    for (let s = 0; s <= 2 * 3600; s++)
      history = recordReading(history, { utilization: 0.1 + s / 100_000, resetAt: RESET }, T0 + s * 1000);
    const samples = history?.samples ?? [];
    expect(samples.length).toBeLessThanOrEqual(DEFAULT_HISTORY_OPTIONS.maxSamples);
    expect(samples[samples.length - 1]?.at).toBe(T0 + 2 * HOUR);
    expect(samples[0]?.at).toBeGreaterThanOrEqual(T0 + 2 * HOUR - DEFAULT_HISTORY_OPTIONS.lookbackMs);
    expect(samples[0]?.at).toBeLessThan(T0 + 2 * HOUR - DEFAULT_HISTORY_OPTIONS.lookbackMs + MIN);
    // 0.036 an hour: the same whatever was thinned.
    expect(
      predictWindow(history, { utilization: 0.1 + 7200 / 100_000, resetAt: RESET }, T0 + 2 * HOUR).burnPerHour,
    ).toBeCloseTo(0.036, 3);
  });

  it('ignores a window with no utilization figure', () => {
    const history = feed([[0, 0.2]]);
    expect(recordReading(history, { resetAt: RESET }, T0 + MIN)).toBe(history);
  });
});
