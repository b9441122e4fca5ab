// Waiting on Redis with a deadline: the request path must never hang on an outage.

/** How a bounded wait ended. */
export type Bounded<T> = { ok: true; value: T } | { ok: false; timedOut: boolean; error?: unknown };

/**
 * Resolves with the work's outcome, or `{ ok: false, timedOut: true }` after `ms`; never rejects. A
 * late rejection of the abandoned work is swallowed, so it cannot surface as an unhandled rejection.
 */
export function within<T>(work: Promise<T>, ms: number): Promise<Bounded<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ ok: false, timedOut: true }), ms);
    timer.unref(); // a deadline alone must not keep a process alive
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve({ ok: true, value });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ ok: false, timedOut: false, error });
      },
    );
  });
}

/** The message of an unknown error, for a log field. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
