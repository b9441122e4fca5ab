// Re-dial delays for the tunnel: exponential with jitter, so a fleet whose gateway restarts does not dial
// back in lockstep.

/** The delays of one dialler. */
export interface Backoff {
  /** The delay before the next attempt after one more failure (250 ms, 500 ms, … up to maxMs, each with up to half of it as jitter). */
  fail(): number;
  /** The delay at the slow end (refusals that a retry soon cannot fix, e.g. a revoked token). */
  slowest(): number;
  /** Back to the start: the next fail() waits baseMs again. */
  reset(): void;
  /** Failures since the last reset. */
  readonly failures: number;
}

export interface BackoffOptions {
  /** Default 250 ms. */
  baseMs?: number;
  /** Default 30 s. */
  maxMs?: number;
  /** [0, 1); default Math.random. */
  random?: () => number;
}

/**
 * Equal jitter: a delay in [cap/2, cap] where cap doubles per failure, so no attempt follows another at once.
 * @example
 * const backoff = createBackoff(); await sleep(backoff.fail()); // 125–250 ms, then 250–500 ms, …
 */
export function createBackoff(opts: BackoffOptions = {}): Backoff {
  const baseMs = opts.baseMs ?? 250;
  const maxMs = opts.maxMs ?? 30_000;
  const random = opts.random ?? Math.random;
  let failures = 0;
  const jittered = (cap: number): number => Math.round(cap / 2 + random() * (cap / 2));
  return {
    fail() {
      failures += 1;
      return jittered(Math.min(maxMs, baseMs * 2 ** Math.min(failures - 1, 30)));
    },
    slowest() {
      failures += 1;
      return jittered(maxMs);
    },
    reset() {
      failures = 0;
    },
    get failures() {
      return failures;
    },
  };
}
