// The gateway's side of a zero-downtime roll-out. On SIGTERM the probes answer 503 `draining` at once, so
// a health-checking proxy in front (the edge) stops sending new requests here while the other replica
// serves; every answer from then on closes its connection, so no keep-alive socket is left for the proxy
// to reuse; and the process waits for the requests in flight, not for idle sockets, before it exits.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** Counts the requests in flight and knows whether the gateway is draining. */
export interface DrainTracker {
  readonly draining: boolean;
  /** Requests whose response has not closed yet. */
  readonly inFlight: number;
  /** Counts one request until its response closes; while draining, the answer closes its connection. */
  track(req: IncomingMessage, res: ServerResponse): void;
  /** From now on: draining (the probes say so; answers close their connections). */
  begin(): void;
  /** Resolves true once nothing is in flight, or false after `timeoutMs` with requests still running. */
  idle(timeoutMs: number): Promise<boolean>;
}

/**
 * @example
 * const drain = createDrainTracker();
 * const server = http.createServer((req, res) => { drain.track(req, res); app(req, res); });
 * process.on('SIGTERM', async () => { drain.begin(); await drain.idle(config.DRAIN_TIMEOUT_MS); server.close(); });
 */
export function createDrainTracker(): DrainTracker {
  let draining = false;
  let inFlight = 0;
  const waiters = new Set<() => void>();
  const wake = () => {
    if (inFlight > 0) return;
    for (const w of waiters) w();
    waiters.clear();
  };
  return {
    get draining() {
      return draining;
    },
    get inFlight() {
      return inFlight;
    },
    track(_req, res) {
      inFlight++;
      if (draining) res.shouldKeepAlive = false;
      res.once('close', () => {
        inFlight--;
        wake();
      });
    },
    begin() {
      draining = true;
    },
    idle(timeoutMs) {
      if (inFlight === 0) return Promise.resolve(true);
      return new Promise((resolve) => {
        const timer = setTimeout(() => {
          waiters.delete(done);
          resolve(false);
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve(true);
        };
        waiters.add(done);
      });
    },
  };
}
