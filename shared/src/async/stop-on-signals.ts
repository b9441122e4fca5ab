/** Set by the first SIGTERM or SIGINT (a process's /health can answer from it). */
export interface StopLatch {
  stopping: boolean;
}

/**
 * SIGTERM or SIGINT: `stop` runs once, whichever comes first and however often they come. For a composition root.
 * @example
 * const latch: StopLatch = { stopping: false }; stopOnSignals((signal) => shutdown(signal), latch);
 */
export function stopOnSignals(stop: (signal: string) => Promise<void>, latch: StopLatch = { stopping: false }): void {
  const shutdownOnce = async (signal: string) => {
    if (latch.stopping) return;
    latch.stopping = true;
    await stop(signal);
  };
  process.on('SIGTERM', () => void shutdownOnce('SIGTERM'));
  process.on('SIGINT', () => void shutdownOnce('SIGINT'));
}
