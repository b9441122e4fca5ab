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
import { createUsageSpool, type UsageSpool } from './usage-spool.js';

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
  return new QueueUsageRecorder(deps);
}

class QueueUsageRecorder implements UsageRecorder {
  readonly #deps: UsageRecorderDeps;
  readonly #log: Logger;
  readonly #concurrency: number;
  readonly #addTimeoutMs: number;
  readonly #spool: UsageSpool;
  readonly #buffer: UsageDraft[] = [];
  readonly #overflow: UsageDraft[] = [];
  readonly #counts = { enqueued: 0, spooled: 0, replayed: 0 };
  #active = 0;
  #scheduled = false;
  #failing = false;
  #stopping = false;
  // Set by stop() once it gave up waiting for Redis: from then on every job goes to the spool, and
  // the Redis calls in flight are abandoned (their jobs spooled by their callers) instead of awaited.
  #spoolOnly = false;
  readonly #abandonable = new Set<(err: Error) => void>();
  #timer: NodeJS.Timeout | undefined;
  #replaying: Promise<void> | undefined;
  #waiters: (() => void)[] = [];

  constructor(deps: UsageRecorderDeps) {
    this.#deps = deps;
    this.#log = deps.log;
    this.#concurrency = deps.concurrency ?? 32;
    this.#addTimeoutMs = deps.addTimeoutMs ?? 10_000;
    this.#spool = createUsageSpool(deps.spoolDir);
  }

  record(draft: UsageDraft): void {
    if (this.#buffer.length < this.#deps.bufferMax) this.#buffer.push(draft);
    else this.#overflow.push(draft);
    this.#schedule();
  }

  async start(): Promise<void> {
    await this.#spool.open();
    this.#deps.connection.on('ready', this.#onReady);
    this.#timer = setInterval(this.#tick, this.#deps.retryIntervalMs ?? 5_000);
    this.#timer.unref();
    if (this.#spool.bytes() > 0) this.#replay();
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearInterval(this.#timer);
    this.#deps.connection.off('ready', this.#onReady);
    await this.#flushForStop();
    await this.#spool.flushed();
    await withDeadline(this.#deps.queue.close(), 5_000, 'usage queue close').catch((err: unknown) =>
      this.#log.warn('usage queue close failed', { err }),
    );
    this.#log.info('usage recorder stopped', { ...this.#counts, spoolBytes: this.#spool.bytes() });
  }

  drained(): Promise<void> {
    if (this.#idle()) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  stats(): UsageRecorderStats {
    return {
      buffered: this.#buffer.length + this.#overflow.length,
      inFlight: this.#active,
      ...this.#counts,
      spoolBytes: this.#spool.bytes(),
    };
  }

  #redisUsable(): boolean {
    return !this.#spoolOnly && this.#deps.connection.status === 'ready' && !this.#failing;
  }

  #idle(): boolean {
    return this.#buffer.length === 0 && this.#overflow.length === 0 && this.#active === 0;
  }

  /**
   * `work`, unless stop() gives up on Redis first (then it rejects at once). Nothing is kept once
   * `work` settles: a shared never-settling promise raced per call would keep every caller alive.
   */
  #unlessAbandoned<T>(work: Promise<T>): Promise<T> {
    if (this.#spoolOnly) {
      work.catch(() => undefined);
      return Promise.reject(new Error(ABANDONED));
    }
    return new Promise<T>((resolve, reject) => {
      this.#abandonable.add(reject);
      work.then(resolve, reject).finally(() => this.#abandonable.delete(reject));
    });
  }

  #abandonRedisCalls(): void {
    for (const reject of this.#abandonable) reject(new Error(ABANDONED));
    this.#abandonable.clear();
  }

  #settled(): void {
    if (!this.#idle()) return;
    const ws = this.#waiters;
    this.#waiters = [];
    for (const w of ws) w();
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#pump);
  }

  readonly #pump = (): void => {
    this.#scheduled = false;
    // Spooling does not wait for add slots: those may all be held by a Redis that stopped answering.
    while (this.#overflow.length > 0) this.#launch(this.#overflow.shift() as UsageDraft, false);
    while (this.#buffer.length > 0 && this.#active < this.#concurrency)
      this.#launch(this.#buffer.shift() as UsageDraft, true);
    this.#settled();
  };

  #launch(draft: UsageDraft, tryQueue: boolean): void {
    this.#active++;
    void this.#handle(draft, tryQueue).finally(() => {
      this.#active--;
      if (this.#buffer.length > 0) this.#schedule();
      this.#settled();
    });
  }

  async #handle(draft: UsageDraft, tryQueue: boolean): Promise<void> {
    const useRedis = tryQueue && this.#redisUsable();
    const job = await buildUsageJob(draft, { digest: (parts) => this.#digestOf(parts, useRedis), log: this.#log });
    if (job === undefined) return;
    // Checked again after the build: stop() may have given up on Redis while the digest waited for it.
    if (useRedis && !this.#spoolOnly && (await this.#add(job))) return;
    await this.#toSpool(job);
  }

  /** The prompt's digest; once stop() gave up on Redis, one still asking it ships every block not known here instead. */
  async #digestOf(parts: PromptParts, askRedis: boolean): Promise<PromptDigest> {
    if (askRedis) {
      try {
        return (await this.#unlessAbandoned(this.#deps.digester.digest(parts, { askRedis: true }))).digest;
      } catch (err) {
        if (!this.#spoolOnly) throw err;
      }
    }
    return (await this.#deps.digester.digest(parts, { askRedis: false })).digest;
  }

  /** True when the job is in the queue; false (Redis failed, timed out, or stop() gave up on it): the caller spools it. */
  async #add(job: UsageJob, counter: 'enqueued' | 'replayed' = 'enqueued'): Promise<boolean> {
    try {
      const options = { ...JobCatalog.usage.defaults, jobId: job.requestId };
      await withDeadline(
        this.#unlessAbandoned(this.#deps.queue.add(JOB_NAME, job, options)),
        this.#addTimeoutMs,
        'usage enqueue',
      );
      this.#counts[counter]++;
      return true;
    } catch (err) {
      if (!this.#failing && !this.#spoolOnly)
        this.#log.warn('usage enqueue failed', { requestId: job.requestId, message: (err as Error).message });
      this.#failing = true;
      return false;
    }
  }

  async #toSpool(job: UsageJob): Promise<void> {
    try {
      await this.#spool.append(JSON.stringify(job));
      this.#counts.spooled++;
    } catch (err) {
      this.#log.error('usage spool write failed', { requestId: job.requestId, err });
    }
  }

  #replay(): void {
    if (this.#replaying !== undefined || this.#stopping || this.#deps.connection.status !== 'ready') return;
    this.#replaying = replaySpool({
      spool: this.#spool,
      add: (job) => this.#add(job, 'replayed'),
      log: this.#log,
      concurrency: this.#concurrency,
      stopping: () => this.#stopping,
    })
      .then((n) => {
        if (n.replayed + n.putBack + n.unreadable > 0) this.#log.info('usage spool replayed', { ...n });
      })
      .catch((err: unknown) => this.#log.error('usage spool replay failed', { err }))
      .finally(() => {
        this.#replaying = undefined;
      });
  }

  // Redis is back (or may be): let the pump try it again and empty the spool.
  readonly #onReady = (): void => {
    if (this.#failing) this.#log.info('usage enqueue retrying', { spoolBytes: this.#spool.bytes() });
    this.#failing = false;
    this.#schedule();
    if (this.#spool.bytes() > 0) this.#replay();
  };

  readonly #tick = (): void => {
    if (this.#deps.connection.status !== 'ready') return;
    if (this.#failing || this.#spool.bytes() > 0) this.#onReady();
  };

  /**
   * Waits for the buffer and a running replay; past the timeout, stops waiting on Redis: adds and
   * digests in flight are abandoned (their jobs are spooled, a digest ships every block not known
   * here), and the buffer goes to the spool. It returns once every draft is either confirmed in the
   * queue or written to the spool. A replay stopped early leaves its file for the next start (a re-add
   * of a queued job is a no-op).
   */
  async #flushForStop(): Promise<void> {
    const stopTimeoutMs = this.#deps.stopTimeoutMs ?? 5_000;
    const everything = () => Promise.all([this.drained(), this.#replaying]).then(() => true);
    if (await withDeadline(everything(), stopTimeoutMs, 'usage flush').catch(() => false)) return;
    this.#log.warn('usage flush timed out, spooling the rest', {
      buffered: this.#buffer.length + this.#overflow.length,
      inFlight: this.#active,
    });
    this.#spoolOnly = true;
    this.#abandonRedisCalls();
    this.#overflow.push(...this.#buffer.splice(0));
    this.#pump();
    if (!(await withDeadline(everything(), stopTimeoutMs, 'usage spool at stop').catch(() => false))) {
      this.#log.error('usage flush incomplete', { inFlight: this.#active });
    }
  }
}
