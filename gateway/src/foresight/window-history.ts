// One usage window's recent utilization readings and what they predict (pure functions; the tracker keeps one
// history per node and window). docs/FORESIGHT.md explains the estimate and its limits.

/** One reading of a window's utilization (a fraction of its limit: 1.0 is the limit). */
export interface UtilizationSample {
  /** Epoch ms (the gateway's clock) when the figure was read. */
  at: number;
  utilization: number;
}

/** The readings of one window since its last reset, oldest first. */
export interface WindowHistory {
  /** The reset the readings belong to; undefined when the window reported none. */
  resetAt: number | undefined;
  samples: UtilizationSample[];
}

/** A window's figures as a node reports them. */
export interface WindowReading {
  utilization?: number;
  resetAt?: number;
}

/** How the history is kept and the burn measured. */
export interface HistoryOptions {
  /** The burn rate is measured over the readings of this last stretch of time. */
  lookbackMs: number;
  /** At most this many readings are kept per window: they are thinned to about lookbackMs / maxSamples apart. */
  maxSamples: number;
  /**
   * The burn is never measured over less than this: two readings a second apart say nothing about an hour, and a
   * burst of requests would otherwise read as a rate that empties the window in minutes.
   */
  minSpanMs: number;
  /** A reset time that moves forward by more than this is a new window period (headers carry whole seconds). */
  resetToleranceMs: number;
}

export const DEFAULT_HISTORY_OPTIONS: HistoryOptions = {
  lookbackMs: 60 * 60_000,
  maxSamples: 120,
  minSpanMs: 5 * 60_000,
  resetToleranceMs: 60_000,
};

/** What one window is predicted to do. */
export interface WindowForesight {
  /** The latest utilization (fraction of the limit). */
  utilization: number;
  /** How fast utilization rose over the recent readings, per hour (0.25: a quarter of the limit an hour); 0 when it did not or fewer than 2 readings are recent. */
  burnPerHour: number;
  /** When it reaches 1.0 at that rate, if before its reset (epoch ms); null: it lasts until the reset. When already at the limit: when it was first seen there. */
  exhaustsAt: number | null;
  /** When the window resets (epoch ms); null when unknown. */
  resetAt: number | null;
  /** How many readings the burn was measured from. */
  samples: number;
  /** Epoch ms of the oldest of them (the burn is measured from it to the prediction's time); null with none. */
  since: number | null;
}

const HOUR_MS = 3_600_000;
// Utilization figures are floats: a drop smaller than this is noise, not a reset.
const DROP_EPSILON = 1e-6;

function startOver(resetAt: number | undefined, sample: UtilizationSample): WindowHistory {
  return { resetAt, samples: [sample] };
}

function isNewPeriod(
  history: WindowHistory,
  reading: { utilization: number; resetAt?: number },
  opts: HistoryOptions,
): boolean {
  const last = history.samples[history.samples.length - 1];
  if (last !== undefined && reading.utilization < last.utilization - DROP_EPSILON) return true;
  return (
    reading.resetAt !== undefined &&
    history.resetAt !== undefined &&
    reading.resetAt > history.resetAt + opts.resetToleranceMs
  );
}

/**
 * Adds a reading taken at nowMs and returns the history to keep. A new window period (its reset moved forward,
 * or its utilization dropped) starts the history over; a window whose reset has passed keeps none (its figures
 * describe a period that is over until a response brings new ones). Readings older than the lookback are dropped,
 * and the rest are kept about lookbackMs / maxSamples apart (the newest always replaces one closer than that).
 * @example history = recordReading(history, { utilization: 0.42, resetAt }, Date.now());
 */
export function recordReading(
  history: WindowHistory | undefined,
  reading: WindowReading,
  nowMs: number,
  opts: HistoryOptions = DEFAULT_HISTORY_OPTIONS,
): WindowHistory | undefined {
  const { utilization, resetAt } = reading;
  if (utilization === undefined) return history;
  if (resetAt !== undefined && resetAt <= nowMs) return undefined;
  const sample = { at: nowMs, utilization };
  if (
    history === undefined ||
    isNewPeriod(history, { utilization, ...(resetAt === undefined ? {} : { resetAt }) }, opts)
  )
    return startOver(resetAt, sample);
  const samples = history.samples.filter((s) => s.at >= nowMs - opts.lookbackMs && s.at <= nowMs);
  // Spaced so that a lookback's worth fits within maxSamples (the cap below then never cuts into it).
  const spacing = opts.lookbackMs / Math.max(1, opts.maxSamples - 2);
  const beforeLast = samples[samples.length - 2];
  const last = samples[samples.length - 1];
  if (last !== undefined && (last.at === nowMs || (beforeLast !== undefined && nowMs - beforeLast.at < spacing)))
    samples[samples.length - 1] = sample;
  else samples.push(sample);
  if (samples.length > opts.maxSamples) samples.splice(0, samples.length - opts.maxSamples);
  // A reset time that moved back a little (rounding) keeps the period's.
  return { resetAt: resetAt === undefined ? history.resetAt : Math.max(resetAt, history.resetAt ?? resetAt), samples };
}

/**
 * What a window is predicted to do as of nowMs: its burn is the rise from the oldest recent reading to the latest
 * utilization, over the time since that reading (at least minSpanMs); at that rate it reaches 1.0 at exhaustsAt,
 * reported only when that comes before its reset.
 * @example predictWindow(history, { utilization: 0.6, resetAt }, Date.now()).exhaustsAt
 */
export function predictWindow(
  history: WindowHistory | undefined,
  reading: { utilization: number; resetAt?: number },
  nowMs: number,
  opts: HistoryOptions = DEFAULT_HISTORY_OPTIONS,
): WindowForesight {
  const { utilization } = reading;
  const resetAt = reading.resetAt ?? null;
  if (resetAt !== null && resetAt <= nowMs)
    return { utilization, burnPerHour: 0, exhaustsAt: null, resetAt, samples: 0, since: null };
  const recent = (history?.samples ?? []).filter((s) => s.at >= nowMs - opts.lookbackMs && s.at <= nowMs);
  const first = recent[0];
  const burnPerHour =
    first === undefined || recent.length < 2
      ? 0
      : (Math.max(0, utilization - first.utilization) / Math.max(nowMs - first.at, opts.minSpanMs)) * HOUR_MS;
  const since = first?.at ?? null;
  if (utilization >= 1) {
    const firstOver = (history?.samples ?? []).find((s) => s.utilization >= 1)?.at ?? nowMs;
    return { utilization, burnPerHour, exhaustsAt: firstOver, resetAt, samples: recent.length, since };
  }
  const reachesAt = burnPerHour > 0 ? Math.round(nowMs + ((1 - utilization) / burnPerHour) * HOUR_MS) : null;
  const exhaustsAt = reachesAt !== null && (resetAt === null || reachesAt < resetAt) ? reachesAt : null;
  return { utilization, burnPerHour, exhaustsAt, resetAt, samples: recent.length, since };
}
