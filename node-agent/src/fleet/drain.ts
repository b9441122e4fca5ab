// Admission for upstream requests, so SIGTERM can stop new work and wait for the streams already running.

/** Counts requests in flight and, once draining, admits no more. */
export interface DrainGate {
  /** Admits one request (call leave() when it ends); false once draining. */
  tryEnter(): boolean;
  /** One admitted request ended. */
  leave(): void;
  readonly inFlight: number;
  readonly draining: boolean;
  /** Stop admitting; resolve when in-flight reaches 0 or after timeoutMs (resolves {timedOut}). */
  drain(timeoutMs: number): Promise<{ timedOut: boolean }>;
}

/**
 * Creates an open gate.
 * @example
 * if (!gate.tryEnter()) return reply503();
 * res.on('close', () => gate.leave());
 */
export function createDrainGate(): DrainGate {
  let inFlight = 0;
  let draining = false;
  const idleWaiters = new Set<() => void>();

  function wakeIfIdle(): void {
    if (inFlight > 0) return;
    for (const wake of idleWaiters) wake();
    idleWaiters.clear();
  }

  return {
    tryEnter() {
      if (draining) return false;
      inFlight += 1;
      return true;
    },
    leave() {
      // An unmatched leave is a caller bug; going negative would let drain() finish with work still running.
      if (inFlight > 0) inFlight -= 1;
      if (draining) wakeIfIdle();
    },
    get inFlight() {
      return inFlight;
    },
    get draining() {
      return draining;
    },
    drain(timeoutMs) {
      draining = true;
      if (inFlight === 0) return Promise.resolve({ timedOut: false });
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          idleWaiters.delete(onIdle);
          resolve({ timedOut: true });
        }, timeoutMs);
        function onIdle(): void {
          clearTimeout(timer);
          resolve({ timedOut: false });
        }
        idleWaiters.add(onIdle);
      });
    },
  };
}
