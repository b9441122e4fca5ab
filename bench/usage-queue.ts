// The usage queue and counter as the accounting scenarios watch them: the BullMQ queue's depth (waiting +
// active), global pause and resume, and `usage:total` `requests`, the count every usage job adds one to.
import { Queue } from 'bullmq';
import { createKeyspace, JobCatalog, queuePrefix } from '@switchyard/shared';
import type { BenchStack } from './stack.js';

/** Jobs the worker has not finished. */
export interface Depth {
  waiting: number;
  active: number;
}

/** How a wait for the backlog ended. */
export interface Drained {
  /** From the call until the queue was empty and the counter reached its target; null: it gave up. */
  ms: number | null;
  /** `usage:total` requests when it stopped waiting. */
  counted: number;
  depth: Depth;
}

/** The usage queue and counter of one stack; `close()` when done. */
export interface UsageQueue {
  depth(): Promise<Depth>;
  /** `usage:total` requests now. */
  counted(): Promise<number>;
  /** BullMQ's global pause: the worker takes no new jobs (active ones finish). */
  pause(): Promise<void>;
  resume(): Promise<void>;
  /** Polls every `pollMs` until waiting + active is 0 and the counter is at least `target`, or `timeoutMs` passed. */
  waitDrained(target: number, timeoutMs: number, pollMs?: number): Promise<Drained>;
  close(): Promise<void>;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens the stack's usage queue (its own Redis connection) for watching.
 * @example
 * const usage = openUsageQueue(stack); try { await usage.depth(); } finally { await usage.close(); }
 */
export function openUsageQueue(stack: BenchStack): UsageQueue {
  const queue = new Queue(JobCatalog.usage.queue, {
    connection: { url: stack.redisUrl },
    prefix: queuePrefix(stack.prefix),
  });
  const totalKey = createKeyspace(stack.prefix).usageAllTime();
  const depth = async (): Promise<Depth> => {
    const counts = await queue.getJobCounts('waiting', 'active');
    return { waiting: counts.waiting ?? 0, active: counts.active ?? 0 };
  };
  const counted = async (): Promise<number> => Number((await stack.redis.hget(totalKey, 'requests')) ?? 0);
  return {
    depth,
    counted,
    pause: () => queue.pause(),
    resume: () => queue.resume(),
    async waitDrained(target, timeoutMs, pollMs = 100) {
      const started = performance.now();
      for (;;) {
        const [d, n] = await Promise.all([depth(), counted()]);
        if (d.waiting + d.active === 0 && n >= target)
          return { ms: Math.round(performance.now() - started), counted: n, depth: d };
        if (performance.now() - started > timeoutMs) return { ms: null, counted: n, depth: d };
        await pause(pollMs);
      }
    },
    close: () => queue.close(),
  };
}

/** Samples the depth every `everyMs` until stopped; a sample that fails is skipped. */
export function sampleDepth(usage: UsageQueue, everyMs: number): { stop(): number[] } {
  const samples: number[] = [];
  const timer = setInterval(() => {
    usage.depth().then(
      (d) => void samples.push(d.waiting + d.active),
      () => undefined,
    );
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      return samples;
    },
  };
}

/**
 * Before a scenario that counts its own jobs: waits until every chain request sent so far is counted
 * and the queue is empty, so what the scenario reads afterwards is its own.
 * @returns false when the backlog of earlier scenarios was still there after `timeoutMs`
 */
export async function settleUsage(usage: UsageQueue, chainRequestsSent: number, timeoutMs: number): Promise<boolean> {
  return (await usage.waitDrained(chainRequestsSent, timeoutMs)).ms !== null;
}
