// Tells operators in the log when usage accounting falls behind: one warn line when the usage queue's lag
// first exceeds the threshold, one info line when it is back under, nothing while it stays on one side.
// It never changes what the gateway serves: budgets follow the counted totals, and traffic goes on.
import type { Logger } from '@switchyard/shared';
import type { QueueLagReader } from './queue-lag.js';

/** The timer functions the watcher uses (the global ones by default; tests pass their own). */
export interface IntervalTimers {
  setInterval(fn: () => void, ms: number): { unref?(): unknown };
  clearInterval(handle: { unref?(): unknown }): void;
}

export interface LagWatcherDeps {
  read: QueueLagReader;
  /** Lag above this many seconds is reported (USAGE_LAG_WARN_SECONDS). */
  thresholdSeconds: number;
  log: Logger;
  /** How often the lag is read. Default 15 000. */
  intervalMs?: number;
  timers?: IntervalTimers;
}

export interface LagWatcher {
  start(): void;
  stop(): void;
  /** One check now (the timer calls it; tests call it directly). Resolves once its line, if any, is logged. */
  check(): Promise<void>;
  /** Whether the last successful read was over the threshold. */
  readonly lagging: boolean;
}

export const LAG_WARN_MESSAGE = 'usage accounting lags';
export const LAG_RECOVERED_MESSAGE = 'usage accounting caught up';

const DEFAULT_INTERVAL_MS = 15_000;
/** USAGE_LAG_WARN_SECONDS's default. */
export const DEFAULT_LAG_WARN_SECONDS = 60;

/**
 * @example
 * const watcher = createLagWatcher({ read: readLag, thresholdSeconds: config.USAGE_LAG_WARN_SECONDS, log });
 * watcher.start(); // … on shutdown: watcher.stop();
 */
export function createLagWatcher(deps: LagWatcherDeps): LagWatcher {
  const timers: IntervalTimers = deps.timers ?? {
    setInterval: (fn, ms) => setInterval(fn, ms),
    clearInterval: (h) => clearInterval(h as NodeJS.Timeout),
  };
  const intervalMs = deps.intervalMs ?? DEFAULT_INTERVAL_MS;
  const threshold = deps.thresholdSeconds;
  let lagging = false;
  let running: Promise<void> | undefined;
  let handle: { unref?(): unknown } | undefined;

  async function checkOnce(): Promise<void> {
    const lag = await deps.read();
    // Redis could not answer: the outage is logged where the connection is; keep the last state.
    if (lag === undefined) return;
    const fields = { lagSeconds: Math.round(lag.lagSeconds * 10) / 10, waiting: lag.depth.waiting, threshold };
    if (!lagging && lag.lagSeconds > threshold) {
      lagging = true;
      deps.log.warn(LAG_WARN_MESSAGE, fields);
    } else if (lagging && lag.lagSeconds <= threshold) {
      lagging = false;
      deps.log.info(LAG_RECOVERED_MESSAGE, fields);
    }
  }

  // A slow read is never overlapped by the next tick's.
  function check(): Promise<void> {
    running ??= checkOnce().finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    start() {
      if (handle !== undefined) return;
      handle = timers.setInterval(() => void check(), intervalMs);
      handle.unref?.();
    },
    stop() {
      if (handle === undefined) return;
      timers.clearInterval(handle);
      handle = undefined;
    },
    check,
    get lagging() {
      return lagging;
    },
  };
}
