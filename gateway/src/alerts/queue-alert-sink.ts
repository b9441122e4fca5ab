// The AlertSink of a process that has Redis: each event becomes a job of the 'alerts' queue (jobId from the
// event's id, so a repeated raise is one job). emit() never waits: the add runs in the background, an add that
// fails (Redis away) is kept in a bounded buffer and tried again every few seconds, and past the bound the
// oldest events are dropped with a log line. Producers on the request path never wait on Redis for an alert.
import { AlertEventSchema, JobCatalog, type AlertEvent, type AlertSink, type Logger } from '@switchyard/shared';
import { alertJobId } from './alert-ids.js';

/** The one Queue operation the sink needs (BullMQ's Queue.add). */
export interface AlertQueue {
  add(name: string, data: AlertEvent, opts: typeof JobCatalog.alert.defaults & { jobId: string }): Promise<unknown>;
}

export interface QueueAlertSinkDeps {
  /** A Queue of JobCatalog.alert.queue, on a connection without an offline queue (an add fails at once while Redis is away). */
  queue: AlertQueue;
  log: Logger;
  /** Events kept while Redis does not take them; past it the oldest are dropped. Default 1000. */
  bufferMax?: number;
  /** How often the kept events are tried again. Default 5000 ms. */
  retryIntervalMs?: number;
}

export interface QueueAlertSink extends AlertSink {
  /** Starts the retry timer. */
  start(): void;
  /** Stops the timer and makes one last attempt at the kept events. */
  stop(): Promise<void>;
  /** Events waiting for Redis (added in the background or kept for a retry). */
  pending(): number;
}

const JOB_NAME = 'alert';

/**
 * @example
 * const alerts = createQueueAlertSink({ queue: new Queue(JobCatalog.alert.queue, { connection, prefix }), log });
 * alerts.start();
 * alerts.emit({ id: alertIds.nodeLost('node-a', heartbeatAt), type: 'node_lost', at: Date.now(), message: '…', data: {} });
 */
export function createQueueAlertSink(deps: QueueAlertSinkDeps): QueueAlertSink {
  return new BufferedAlertSink(deps);
}

class BufferedAlertSink implements QueueAlertSink {
  readonly #queue: AlertQueue;
  readonly #log: Logger;
  readonly #bufferMax: number;
  readonly #retryIntervalMs: number;
  /** The events Redis did not take yet, oldest first (a Map keeps insertion order). */
  readonly #kept = new Map<string, AlertEvent>();
  #inFlight = 0;
  #dropped = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: QueueAlertSinkDeps) {
    this.#queue = deps.queue;
    this.#log = deps.log;
    this.#bufferMax = deps.bufferMax ?? 1_000;
    this.#retryIntervalMs = deps.retryIntervalMs ?? 5_000;
  }

  emit(event: AlertEvent): void {
    const parsed = AlertEventSchema.safeParse(event);
    if (!parsed.success) {
      // A producer's bug, not an operator's problem: said once per event, never thrown at the caller.
      this.#log.error('alert event invalid; not raised', {
        alertId: typeof event.id === 'string' ? event.id.slice(0, 200) : undefined,
        type: event.type,
        issues: parsed.error.issues.map((i) => i.path.join('.')),
      });
      return;
    }
    void this.#add(parsed.data);
  }

  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#retryKept(), this.#retryIntervalMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#retryKept();
    if (this.#kept.size > 0) this.#log.warn('alerts not enqueued at exit', { count: this.#kept.size });
  }

  pending(): number {
    return this.#kept.size + this.#inFlight;
  }

  #keep(event: AlertEvent): void {
    this.#kept.delete(event.id);
    this.#kept.set(event.id, event);
    while (this.#kept.size > this.#bufferMax) {
      const oldest = this.#kept.keys().next().value as string;
      this.#kept.delete(oldest);
      this.#dropped++;
      this.#log.warn('alert dropped: Redis did not take it and the buffer is full', {
        alertId: oldest,
        bufferMax: this.#bufferMax,
        droppedSoFar: this.#dropped,
      });
    }
  }

  async #add(event: AlertEvent): Promise<boolean> {
    this.#inFlight++;
    try {
      await this.#queue.add(JOB_NAME, event, { ...JobCatalog.alert.defaults, jobId: alertJobId(event.id) });
      return true;
    } catch (err) {
      this.#log.debug('alert not enqueued yet; kept for a retry', {
        alertId: event.id,
        reason: err instanceof Error ? err.message : String(err),
      });
      this.#keep(event);
      return false;
    } finally {
      this.#inFlight--;
    }
  }

  async #retryKept(): Promise<void> {
    const events = [...this.#kept.values()];
    this.#kept.clear();
    for (const event of events) {
      // The first failure means Redis is still away: keep the rest for the next round, in their order.
      if (!(await this.#add(event))) {
        for (const rest of events.slice(events.indexOf(event) + 1)) this.#keep(rest);
        return;
      }
    }
    if (events.length > 0) this.#log.info('kept alerts enqueued', { count: events.length });
  }
}
