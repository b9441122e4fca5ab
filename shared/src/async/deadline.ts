// A deadline on a promise: the service code's one way of not waiting on Redis (or anything) forever.

/** The work did not settle within its deadline. */
export class DeadlineError extends Error {
  override readonly name = 'DeadlineError';
}

/**
 * Settles like `work`, or rejects with a DeadlineError naming `what` after `ms`. The timer is unref'd
 * (a deadline alone never keeps a process alive) and cleared once the work settles; a late rejection of
 * abandoned work is absorbed here, so it never surfaces as an unhandled rejection.
 * @example
 * const raw = await withDeadline(store.get(key), 500, 'key lookup');
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError(`${what}: no answer within ${ms} ms`)), ms);
    timer.unref();
    work.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err instanceof Error ? err : new Error(String(err)));
      },
    );
  });
}
