// The gateway's side of usage accounting: a bounded in-memory buffer the routes push onto, a pump that
// turns drafts into jobs and adds them to BullMQ, and a local spool for whatever Redis cannot take.
import {
  JobCatalog,
  withDeadline,
  type JobDefaults,
  type Logger,
  type PromptDigest,
  type PromptParts,
  type UsageJob,
} from '@switchyard/shared';
import type { PromptDigester } from './prompt-digest.js';
import { replaySpool } from './spool-replay.js';
import type { UsageDraft } from './usage-draft.js';
import { buildUsageJob } from './usage-job-build.js';
import { createUsageSpool } from './usage-spool.js';

/** The job options every usage job is added with. */
export type UsageJobOptions = JobDefaults & { jobId: string };

/** What the recorder needs of a BullMQ Queue (main.ts hands it a real one). */
export interface UsageQueue {
  add(name: string, data: UsageJob, opts: UsageJobOptions): Promise<unknown>;
  close(): Promise<void>;
}

/** The queue's ioredis connection, as far as the recorder watches it. */
export interface RedisLink {
  readonly status: string;
  on(event: 'ready', listener: () => void): unknown;
  off(event: 'ready', listener: () => void): unknown;
}

export interface UsageRecorderStats {
  /** Drafts waiting in memory (to be enqueued, or spooled because the buffer was full). */
  buffered: number;
  /** Jobs being turned into payloads or added right now. */
  inFlight: number;
  enqueued: number;
  spooled: number;
  replayed: number;
  spoolBytes: number;
}

export interface UsageRecorder {
  /** Hands over one finished request. Synchronous and cheap: it never waits on Redis or the disk. */
  record(draft: UsageDraft): void;
  /** Opens the spool and replays what an earlier process left in it (once Redis is ready). */
  start(): Promise<void>;
  /**
   * Flushes the buffer, then closes the queue. Past `stopTimeoutMs` it stops waiting on Redis: adds in
   * flight give up and everything not confirmed is spooled before it resolves (the process may exit then).
   */
  stop(): Promise<void>;
  /** Resolves once every draft recorded so far is enqueued or spooled. */
  drained(): Promise<void>;
  stats(): UsageRecorderStats;
}

export interface UsageRecorderDeps {
  queue: UsageQueue;
  /** The queue's connection (created with `enableOfflineQueue: false`, so commands fail at once while it is down). */
  connection: RedisLink;
  digester: PromptDigester;
  spoolDir: string;
  /** Most drafts held in memory; past it they go to the spool. */
  bufferMax: number;
  log: Logger;
  /** Adds in flight at once. Default 32. */
  concurrency?: number;
  /** While something is spooled or an add failed, how often to try Redis again. Default 5000. */
  retryIntervalMs?: number;
  /** An add that takes longer is spooled (a late success makes the replay a no-op). Default 10000. */
  addTimeoutMs?: number;
  /** How long stop() waits for adds (and a replay) before spooling the rest. Default 5000. */
  stopTimeoutMs?: number;
}

const JOB_NAME = 'usage';
const ABANDONED = 'usage recorder stopping: Redis no longer awaited';

/**
 * Enqueues one usage job per request, after its response, without ever putting Redis on the request
 * path: `record()` only pushes onto an array; a pump (setImmediate) builds each job (capture result,
 * prompt digest) and adds it with at most `concurrency` adds in flight. When Redis is down, when an add
 * fails, or when the buffer is full, the job is appended to the spool instead, and the spool is
 * replayed on the connection's 'ready' and on a timer while anything is spooled. Nothing is dropped.
 *
 * @example
 * const recorder = createUsageRecorder({ queue, connection, digester, spoolDir, bufferMax: 10_000, log });
 * await recorder.start();
 * recorder.record(draft); // from the route, once the response ended
 */
export function createUsageRecorder(deps: UsageRecorderDeps): UsageRecorder {
  const concurrency = deps.concurrency ?? 32;
  const addTimeoutMs = deps.addTimeoutMs ?? 10_000;
  const spool = createUsageSpool(deps.spoolDir);
  const { log } = deps;
  const buffer: UsageDraft[] = [];
  const overflow: UsageDraft[] = [];
  const counts = { enqueued: 0, spooled: 0, replayed: 0 };
  let active = 0;
  let scheduled = false;
  let failing = false;
  let stopping = false;
  // Set by stop() once it gave up waiting for Redis: from then on every job goes to the spool, and
  // the Redis calls in flight are abandoned (their jobs spooled by their callers) instead of awaited.
  let spoolOnly = false;
  const abandonable = new Set<(err: Error) => void>();
  let timer: NodeJS.Timeout | undefined;
  let replaying: Promise<void> | undefined;
  let waiters: (() => void)[] = [];

  const redisUsable = () => !spoolOnly && deps.connection.status === 'ready' && !failing;
  const idle = () => buffer.length === 0 && overflow.length === 0 && active === 0;

  /**
   * `work`, unless stop() gives up on Redis first (then it rejects at once). Nothing is kept once
   * `work` settles: a shared never-settling promise raced per call would keep every caller alive.
   */
  function unlessAbandoned<T>(work: Promise<T>): Promise<T> {
    if (spoolOnly) {
      work.catch(() => undefined);
      return Promise.reject(new Error(ABANDONED));
    }
    return new Promise<T>((resolve, reject) => {
      abandonable.add(reject);
      work.then(resolve, reject).finally(() => abandonable.delete(reject));
    });
  }

  function abandonRedisCalls(): void {
    for (const reject of abandonable) reject(new Error(ABANDONED));
    abandonable.clear();
  }

  function settled(): void {
    if (!idle()) return;
    const ws = waiters;
    waiters = [];
    for (const w of ws) w();
  }

  function schedule(): void {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  }

  function launch(draft: UsageDraft, tryQueue: boolean): void {
    active++;
    void handle(draft, tryQueue).finally(() => {
      active--;
      if (buffer.length > 0) schedule();
      settled();
    });
  }

  function pump(): void {
    scheduled = false;
    // Spooling does not wait for add slots: those may all be held by a Redis that stopped answering.
    while (overflow.length > 0) launch(overflow.shift() as UsageDraft, false);
    while (buffer.length > 0 && active < concurrency) launch(buffer.shift() as UsageDraft, true);
    settled();
  }

  async function handle(draft: UsageDraft, tryQueue: boolean): Promise<void> {
    const useRedis = tryQueue && redisUsable();
    const job = await buildUsageJob(draft, { digest: (parts) => digestOf(parts, useRedis), log });
    if (job === undefined) return;
    // Checked again after the build: stop() may have given up on Redis while the digest waited for it.
    if (useRedis && !spoolOnly && (await add(job))) return;
    await toSpool(job);
  }

  /** The prompt's digest; once stop() gave up on Redis, one still asking it ships every block not known here instead. */
  async function digestOf(parts: PromptParts, askRedis: boolean): Promise<PromptDigest> {
    if (askRedis) {
      try {
        return (await unlessAbandoned(deps.digester.digest(parts, { askRedis: true }))).digest;
      } catch (err) {
        if (!spoolOnly) throw err;
      }
    }
    return (await deps.digester.digest(parts, { askRedis: false })).digest;
  }

  /** True when the job is in the queue; false (Redis failed, timed out, or stop() gave up on it): the caller spools it. */
  async function add(job: UsageJob, counter: 'enqueued' | 'replayed' = 'enqueued'): Promise<boolean> {
    try {
      await withDeadline(
        unlessAbandoned(deps.queue.add(JOB_NAME, job, { ...JobCatalog.usage.defaults, jobId: job.requestId })),
        addTimeoutMs,
        'usage enqueue',
      );
      counts[counter]++;
      return true;
    } catch (err) {
      if (!failing && !spoolOnly)
        log.warn('usage enqueue failed', { requestId: job.requestId, message: (err as Error).message });
      failing = true;
      return false;
    }
  }

  async function toSpool(job: UsageJob): Promise<void> {
    try {
      await spool.append(JSON.stringify(job));
      counts.spooled++;
    } catch (err) {
      log.error('usage spool write failed', { requestId: job.requestId, err });
    }
  }

  function replay(): void {
    if (replaying !== undefined || stopping || deps.connection.status !== 'ready') return;
    replaying = replaySpool({ spool, add: (job) => add(job, 'replayed'), log, concurrency, stopping: () => stopping })
      .then((n) => {
        if (n.replayed + n.putBack + n.unreadable > 0) log.info('usage spool replayed', { ...n });
      })
      .catch((err: unknown) => log.error('usage spool replay failed', { err }))
      .finally(() => {
        replaying = undefined;
      });
  }

  // Redis is back (or may be): let the pump try it again and empty the spool.
  function onReady(): void {
    if (failing) log.info('usage enqueue retrying', { spoolBytes: spool.bytes() });
    failing = false;
    schedule();
    if (spool.bytes() > 0) replay();
  }

  function tick(): void {
    if (deps.connection.status !== 'ready') return;
    if (failing || spool.bytes() > 0) onReady();
  }

  /**
   * Waits for the buffer and a running replay; past the timeout, stops waiting on Redis: adds and
   * digests in flight are abandoned (their jobs are spooled, a digest ships every block not known
   * here), and the buffer goes to the spool. It returns once every draft is either confirmed in the
   * queue or written to the spool. A replay stopped early leaves its file for the next start (a re-add
   * of a queued job is a no-op).
   */
  async function flushForStop(): Promise<void> {
    const stopTimeoutMs = deps.stopTimeoutMs ?? 5_000;
    const everything = () => Promise.all([drained(), replaying]).then(() => true);
    if (await withDeadline(everything(), stopTimeoutMs, 'usage flush').catch(() => false)) return;
    log.warn('usage flush timed out, spooling the rest', {
      buffered: buffer.length + overflow.length,
      inFlight: active,
    });
    spoolOnly = true;
    abandonRedisCalls();
    overflow.push(...buffer.splice(0));
    pump();
    if (!(await withDeadline(everything(), stopTimeoutMs, 'usage spool at stop').catch(() => false))) {
      log.error('usage flush incomplete', { inFlight: active });
    }
  }

  function drained(): Promise<void> {
    if (idle()) return Promise.resolve();
    return new Promise((resolve) => waiters.push(resolve));
  }

  return {
    record(draft) {
      if (buffer.length < deps.bufferMax) buffer.push(draft);
      else overflow.push(draft);
      schedule();
    },
    async start() {
      await spool.open();
      deps.connection.on('ready', onReady);
      timer = setInterval(tick, deps.retryIntervalMs ?? 5_000);
      timer.unref();
      if (spool.bytes() > 0) replay();
    },
    async stop() {
      stopping = true;
      clearInterval(timer);
      deps.connection.off('ready', onReady);
      await flushForStop();
      await spool.flushed();
      await withDeadline(deps.queue.close(), 5_000, 'usage queue close').catch((err: unknown) =>
        log.warn('usage queue close failed', { err }),
      );
      log.info('usage recorder stopped', { ...counts, spoolBytes: spool.bytes() });
    },
    drained,
    stats: () => ({
      buffered: buffer.length + overflow.length,
      inFlight: active,
      ...counts,
      spoolBytes: spool.bytes(),
    }),
  };
}
