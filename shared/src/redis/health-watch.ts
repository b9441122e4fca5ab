// How a process says that its Redis went away and came back: one warn line per outage (not one per reconnect
// attempt) and one info line when the connection is ready again. The gateway and the usage worker watch their
// main connection with it; their other connections stay quiet, so an outage is told once per process.
import { errorCode } from '../errors/error-code.js';
import type { Logger } from '../logging/create-logger.js';

/** What the watch needs of a connection: ioredis's `error` and `ready` events and its status. */
export interface WatchedRedis {
  readonly status: string;
  on(event: 'error', listener: (err: Error) => void): unknown;
  on(event: 'ready', listener: () => void): unknown;
  off(event: 'error', listener: (err: Error) => void): unknown;
  off(event: 'ready', listener: () => void): unknown;
}

/** The health of one Redis connection, as its process logs it. */
export interface RedisHealthWatch {
  /** Listens to the connection's errors and readiness. Nothing is watched before. */
  start(): void;
  /** Stops listening; the connection's errors are then someone else's to handle. */
  stop(): void;
  /** From the first error until the connection is ready again. */
  readonly down: boolean;
  /**
   * An error seen elsewhere on this connection (a BullMQ worker re-emits its connections' errors): while the
   * connection is down or not ready it is the outage (logged once) and this returns true; on a ready connection it
   * returns false and logs nothing, for the caller to judge.
   */
  report(err: unknown): boolean;
}

/**
 * @example
 * const health = createRedisHealthWatch({ client, log });
 * health.start();
 * worker.on('error', (err) => health.report(err) || log.error('worker error', { err }));
 */
export function createRedisHealthWatch(deps: { client: WatchedRedis; log: Logger }): RedisHealthWatch {
  const { client, log } = deps;
  let down = false;
  let watching = false;

  function outage(err: unknown): void {
    if (down) return;
    down = true;
    log.warn('redis unreachable', {
      errorCode: errorCode(err),
      reason: err instanceof Error ? err.message : String(err),
    });
  }
  function ready(): void {
    if (down) log.info('redis reachable again');
    down = false;
  }

  return {
    start() {
      if (watching) return;
      watching = true;
      client.on('error', outage);
      client.on('ready', ready);
    },
    stop() {
      if (!watching) return;
      watching = false;
      client.off('error', outage);
      client.off('ready', ready);
    },
    get down() {
      return down;
    },
    report(err) {
      if (!down && client.status === 'ready') return false;
      outage(err);
      return true;
    },
  };
}
