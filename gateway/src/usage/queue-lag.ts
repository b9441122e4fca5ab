// How far usage accounting lags: the usage queue's depth by state and the age of its oldest waiting job,
// read within a deadline. Shared by the gateway (metrics, /admin/usage, the lag watcher) and the usage
// worker's metrics, so both report the same figures the same way.
import { withDeadline } from '@switchyard/shared';

/** The job states read as queue depth (the usage worker exports all of them; the gateway waiting, active, delayed, failed). */
export const QUEUE_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

/**
 * What the reader needs of a BullMQ Queue (a `Queue` has all of it). Job ids come from the waiting list
 * without their payload; only the oldest one's `timestamp` field is read from its hash.
 */
export interface LagQueue {
  getJobCounts(...types: QueueState[]): Promise<Record<string, number>>;
  getRanges(types: 'wait'[], start: number, end: number, asc: boolean): Promise<string[]>;
  toKey(type: string): string;
  getBackend(): { readonly client: Promise<{ hget(key: string, field: string): Promise<string | null> }> };
}

/** The usage queue at one moment. */
export interface QueueLag {
  /** Jobs per state. */
  depth: Record<QueueState, number>;
  /** Seconds the oldest waiting job has waited since it was added (0: none waits). */
  lagSeconds: number;
}

export interface QueueLagReaderDeps {
  queue: LagQueue;
  /** Wall-clock milliseconds (job timestamps are Date.now() at add). */
  now(): number;
  /** A read that takes longer is abandoned and reported as unknown. Default 2000. */
  timeoutMs?: number;
}

/** Reads the queue's lag; `undefined` when Redis did not answer within the deadline (or failed). */
export type QueueLagReader = () => Promise<QueueLag | undefined>;

// The oldest job can be taken and deleted between reading its id and its hash: read the new oldest then.
const OLDEST_ATTEMPTS = 3;

/**
 * BullMQ adds a job with LPUSH to the wait list and a worker takes it with RPOPLPUSH from the other end,
 * so the oldest waiting job is the list's tail: `getRanges(['wait'], 0, 0, true)` reads just its id.
 * Returns the job's `timestamp` (ms), or undefined when nothing waits.
 */
async function oldestWaitingTimestamp(queue: LagQueue): Promise<number | undefined> {
  const client = await queue.getBackend().client;
  for (let attempt = 0; attempt < OLDEST_ATTEMPTS; attempt++) {
    const [id] = await queue.getRanges(['wait'], 0, 0, true);
    if (id === undefined) return undefined;
    const timestamp = await client.hget(queue.toKey(id), 'timestamp');
    if (timestamp !== null) return Number(timestamp);
  }
  throw new Error('the oldest waiting usage job kept disappearing while it was read');
}

/**
 * @example
 * const readLag = createQueueLagReader({ queue: new Queue(JobCatalog.usage.queue, { connection, prefix }), now: Date.now });
 * const lag = await readLag(); // { depth: { waiting: 12, … }, lagSeconds: 3.2 } or undefined
 */
export function createQueueLagReader(deps: QueueLagReaderDeps): QueueLagReader {
  const timeoutMs = deps.timeoutMs ?? 2_000;
  return async function readQueueLag() {
    try {
      const [counts, oldest] = await withDeadline(
        Promise.all([deps.queue.getJobCounts(...QUEUE_STATES), oldestWaitingTimestamp(deps.queue)]),
        timeoutMs,
        'usage queue lag',
      );
      const depth = Object.fromEntries(QUEUE_STATES.map((state) => [state, counts[state] ?? 0])) as Record<
        QueueState,
        number
      >;
      const lagSeconds =
        oldest === undefined || !Number.isFinite(oldest) ? 0 : Math.max(0, (deps.now() - oldest) / 1000);
      return { depth, lagSeconds };
    } catch {
      return undefined;
    }
  };
}

/**
 * One read shared by every caller while it runs: the gauges of one scrape collect at the same time, so a
 * scrape costs one round of queue reads however many series it fills, and the next scrape reads afresh.
 */
export function shareQueueLag(read: QueueLagReader): QueueLagReader {
  let pending: Promise<QueueLag | undefined> | undefined;
  return function sharedQueueLag() {
    pending ??= read().finally(() => {
      pending = undefined;
    });
    return pending;
  };
}
