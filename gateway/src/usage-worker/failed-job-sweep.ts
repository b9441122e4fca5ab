// Deletes usage jobs that failed for good once they are older than the catalog's removeOnFail age. BullMQ prunes
// a finished set by age only when another job lands in it, so without this a lone failure would keep its prompt
// and response text until the next one, however long that takes.
import type { Logger } from '@switchyard/shared';

/** The one Queue operation the sweep needs (BullMQ's Queue.clean). */
export interface CleanableQueue {
  clean(graceMs: number, limit: number, type: 'failed'): Promise<string[]>;
}

/** A periodic sweep of old failed jobs. */
export interface FailedJobSweep {
  /** Sweeps at once, then every interval. */
  start(): void;
  /** Stops the timer and waits for a sweep under way. */
  stop(): Promise<void>;
  /** Deletes every failed job older than the age now; resolves to how many. */
  sweepNow(): Promise<number>;
}

const BATCH = 1_000;

/**
 * @example
 * const sweep = createFailedJobSweep({ queue, maxAgeMs: JobCatalog.usage.defaults.removeOnFail.age * 1000, intervalMs: 600_000, log });
 * sweep.start();
 */
export function createFailedJobSweep(deps: {
  queue: CleanableQueue;
  maxAgeMs: number;
  intervalMs: number;
  log: Logger;
}): FailedJobSweep {
  const { queue, maxAgeMs, intervalMs, log } = deps;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> = Promise.resolve();

  async function sweepNow(): Promise<number> {
    let removed = 0;
    for (;;) {
      const batch = await queue.clean(maxAgeMs, BATCH, 'failed');
      removed += batch.length;
      if (batch.length < BATCH) break;
    }
    if (removed > 0) log.info('old failed usage jobs deleted', { removed, maxAgeMs });
    return removed;
  }

  function tick(): void {
    // Redis away: the worker's connection reports the outage; the next tick tries again.
    running = sweepNow().catch((err: unknown) =>
      log.debug('failed job sweep did not run', { reason: err instanceof Error ? err.message : String(err) }),
    );
  }

  return {
    start() {
      if (timer !== undefined) return;
      tick();
      timer = setInterval(tick, intervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await running;
    },
    sweepNow,
  };
}
