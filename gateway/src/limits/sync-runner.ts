// Schedules the limiter's sync rounds: one at a time, on an unref'd interval, with health tracked and logged on change.
import { errorCode, withDeadline, type Logger } from '@switchyard/shared';
import type { LimitSync, SyncResult } from './limit-sync.js';
import type { KeyState } from './limit-state.js';

const STOP_TIMEOUT_MS = 2_000;

/** Runs a LimitSync in the background. */
export interface SyncRunner {
  /** Runs one round after any running one; resolves to whether every command succeeded. Never rejects. */
  syncNow(): Promise<boolean>;
  /**
   * Pulls one key's numbers in the background (only while running and healthy): the promise settles (never
   * rejects) once the pull is done or failed; undefined when no pull was started.
   */
  pullSoon(state: KeyState): Promise<void> | undefined;
  start(): void;
  /** Stops the interval and runs one last round, waiting at most 2 s for it. */
  stop(): Promise<void>;
  healthy(): boolean;
}

/** Creates the runner for `sync`, a round every intervalMs once started. */
export function createSyncRunner(deps: { sync: LimitSync; log: Logger; intervalMs: number }): SyncRunner {
  let timer: NodeJS.Timeout | undefined;
  let healthy = true;
  let queue: Promise<unknown> = Promise.resolve();
  let pendingRounds = 0;

  function noteResult(result: SyncResult): boolean {
    if (!result.ok && healthy) {
      const err = result.error as { message?: unknown } | undefined;
      deps.log.warn('limits sync failed', { errorCode: errorCode(err), message: err?.message });
    } else if (result.ok && !healthy) {
      deps.log.info('limits sync recovered');
    }
    healthy = result.ok;
    return result.ok;
  }

  function syncNow(): Promise<boolean> {
    pendingRounds++;
    const round = queue
      .then(() => deps.sync.round())
      .then(noteResult, (error: unknown) => noteResult({ ok: false, error }));
    const done = round.finally(() => pendingRounds--);
    queue = done;
    return done;
  }

  return {
    syncNow,
    pullSoon(state) {
      if (timer === undefined || !healthy) return undefined;
      return deps.sync.pull(state).then(
        (result) => {
          if (!result.ok) noteResult(result);
        },
        (error: unknown) => {
          noteResult({ ok: false, error });
        },
      );
    },
    start() {
      if (timer !== undefined) return;
      timer = setInterval(() => {
        // A slow Redis must not stack rounds up; the next tick catches up.
        if (pendingRounds === 0) void syncNow();
      }, deps.intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await withDeadline(syncNow(), STOP_TIMEOUT_MS, 'limits sync at stop').catch(() => false);
    },
    healthy: () => healthy,
  };
}
