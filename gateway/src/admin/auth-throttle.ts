// Failed admin authentications, counted per source address in a fixed window: past the limit, the address is
// refused (429) until its window ends, whatever it sends. The table is an LRU with a TTL of one window, so it holds
// at most `maxAddresses` addresses however many a client makes up.
import { LRUCache } from 'lru-cache';
import type { Logger } from '@switchyard/shared';

/** Options of createAuthThrottle; every field has a default. */
export interface AuthThrottleOptions {
  /** Failed authentications an address may make per window; the next request is refused. Default 10. */
  maxFailures?: number;
  /** The window, in ms, from an address's first failure. Default 60 s. */
  windowMs?: number;
  /** At most this many addresses are tracked (the least recently seen is forgotten first). Default 10,000. */
  maxAddresses?: number;
  now?: () => number;
}

/** The throttle's answers for one source address. */
export interface AuthThrottle {
  /** Ms left in the address's window while it is past the limit; undefined while it may try. */
  blockedFor(address: string): number | undefined;
  /** Counts a failed authentication from the address; logs one warn line when it reaches the limit. */
  recordFailure(address: string): void;
  /** Addresses tracked now (bounded by maxAddresses). */
  readonly size: number;
}

export const DEFAULT_AUTH_THROTTLE = { maxFailures: 10, windowMs: 60_000, maxAddresses: 10_000 } as const;

interface Window {
  endsAt: number;
  failures: number;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new RangeError(`authThrottle.${name} must be a whole number above 0, got ${value}`);
  return value;
}

/**
 * Counts failed authentications per address. The window opens at an address's first failure and lasts `windowMs`;
 * a success does not reset it (the count is of guesses, and a right guess needs no more). Logged at most twice per
 * address per window: a debug line at its first failure, one warn line when it reaches the limit. Never per attempt.
 * @example const throttle = createAuthThrottle({ log }); if (throttle.blockedFor(ip) === undefined) …
 */
export function createAuthThrottle(opts: AuthThrottleOptions & { log: Logger }): AuthThrottle {
  const maxFailures = positiveInteger('maxFailures', opts.maxFailures ?? DEFAULT_AUTH_THROTTLE.maxFailures);
  const windowMs = positiveInteger('windowMs', opts.windowMs ?? DEFAULT_AUTH_THROTTLE.windowMs);
  const maxAddresses = positiveInteger('maxAddresses', opts.maxAddresses ?? DEFAULT_AUTH_THROTTLE.maxAddresses);
  const now = opts.now ?? Date.now;
  const { log } = opts;
  // ttlResolution 0: lru-cache would otherwise reuse a reading of the clock for 1 ms (with a timer to forget it).
  const windows = new LRUCache<string, Window>({ max: maxAddresses, ttl: windowMs, ttlResolution: 0, perf: { now } });

  /** The address's open window, or undefined when it has none (never failed, or its window ended). */
  function openWindow(address: string, at: number): Window | undefined {
    const window = windows.get(address);
    if (window === undefined || window.endsAt <= at) return undefined;
    return window;
  }

  return {
    blockedFor(address) {
      const at = now();
      const window = openWindow(address, at);
      return window !== undefined && window.failures >= maxFailures ? window.endsAt - at : undefined;
    },
    recordFailure(address) {
      const at = now();
      let window = openWindow(address, at);
      if (window === undefined) {
        window = { endsAt: at + windowMs, failures: 0 };
        windows.set(address, window);
        log.debug('admin authentication failed', { ip: address, windowSeconds: windowMs / 1000 });
      }
      window.failures += 1;
      if (window.failures !== maxFailures) return;
      const refusedForSeconds = Math.ceil((window.endsAt - at) / 1000);
      log.warn('admin authentication failures', {
        ip: address,
        failures: window.failures,
        windowSeconds: windowMs / 1000,
        refusedForSeconds,
      });
    },
    get size() {
      return windows.size;
    },
  };
}
