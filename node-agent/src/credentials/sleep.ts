/** Waits `ms` (Infinity: forever) or until `signal` aborts, whichever comes first; never rejects. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

// setTimeout fires at once for delays past 2^31-1 ms; longer waits are cut to that and re-checked by the caller.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The real-timer {@link Sleep}. Its timer does not keep the process alive on its own. */
export const abortableSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      if (timer !== undefined) clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = Number.isFinite(ms) ? setTimeout(done, Math.min(MAX_TIMER_MS, Math.max(0, ms))).unref() : undefined;
    signal.addEventListener('abort', done, { once: true });
  });
