// Worker capacity: with the usage queue paused (BullMQ's global pause: the worker takes no new jobs),
// clients send the soak's mix until a backlog has built up; then the queue is resumed and the drain timed
// until it is empty and every request counted. Jobs per second and per worker CPU-second are what one
// worker process (one core) can count. Once with 1 KB turns, once with 200 KB conversations.
import { claudeCodeBody, smallBody } from '../bodies.js';
import type { BenchContext } from '../context.js';
import { bodyTemplate, mixedLoad, type BodyTemplate, type LoadResult } from '../mixed-load.js';
import { cpuMs } from '../proc-stats.js';
import { openUsageQueue, settleUsage, type UsageQueue } from '../usage-queue.js';

/** One backlog and its drain. */
export interface DrainPhase {
  label: string;
  bodyBytes: number;
  load: LoadResult;
  /** Jobs waiting when the queue was resumed (all the load's requests, unless the wait for them gave up). */
  enqueued: number;
  /** From the end of the load until every job was in the queue. */
  enqueueWaitMs: number;
  /** Redis's used_memory with the backlog in it, MB. */
  redisUsedMb: number | null;
  /** From resume until the queue was empty and every request counted; null: not within the wait. */
  drainMs: number | null;
  jobsPerSecond: number;
  counted: number;
  countedExactly: boolean;
  workerCpuMs: number;
  /** Jobs counted per second of the worker's CPU: what one core does. */
  jobsPerWorkerCpuSecond: number;
  /** Redis's CPU over the drain; null when Redis does not run on this machine. */
  redisCpuMs: number | null;
}

/** Both phases. */
export interface DrainResult {
  small: DrainPhase;
  long: DrainPhase;
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function usedMemoryMb(ctx: BenchContext): Promise<number | null> {
  const match = /used_memory:(\d+)/.exec(await ctx.stack.redis.info('memory'));
  return match?.[1] === undefined ? null : Math.round(Number(match[1]) / 2 ** 20);
}

async function phase(
  ctx: BenchContext,
  usage: UsageQueue,
  label: string,
  templates: BodyTemplate[],
  loadMs: number,
  bodyBytes: number,
): Promise<DrainPhase> {
  const { stack } = ctx;
  if (!(await settleUsage(usage, ctx.chainRequestsSent(), ctx.counts.accountingWaitMs)))
    ctx.log('  earlier usage jobs were still being counted; draining anyway');
  const before = await usage.counted();
  const target = ctx.target('chain', templates.length);
  await usage.pause();
  try {
    const load = await mixedLoad(target, templates, loadMs, `drain ${label}`);
    // The gateway adds each job after its response ended, off the request path: wait for the last ones.
    const loaded = performance.now();
    let enqueued = (await usage.depth()).waiting;
    while (enqueued < load.sent && performance.now() - loaded < 30_000) {
      await pause(50);
      enqueued = (await usage.depth()).waiting;
    }
    const enqueueWaitMs = Math.round(performance.now() - loaded);
    const redisUsedMb = await usedMemoryMb(ctx);
    const cpu0 = {
      worker: cpuMs(stack.worker.pid),
      redis: stack.redisPid === undefined ? undefined : cpuMs(stack.redisPid),
    };
    await usage.resume();
    const drained = await usage.waitDrained(before + load.sent, ctx.counts.accountingWaitMs, 50);
    const workerCpuMs = cpuMs(stack.worker.pid) - cpu0.worker;
    const counted = drained.counted - before;
    ctx.log(
      `  ${label}: ${load.sent} requests, ${enqueued} jobs queued, drained in ${drained.ms ?? 'more than the wait'} ms`,
    );
    return {
      label,
      bodyBytes,
      load,
      enqueued,
      enqueueWaitMs,
      redisUsedMb,
      drainMs: drained.ms,
      jobsPerSecond: drained.ms === null ? 0 : Math.round((counted / Math.max(1, drained.ms)) * 1_000),
      counted,
      countedExactly: counted === load.sent,
      workerCpuMs,
      jobsPerWorkerCpuSecond: Math.round(counted / Math.max(0.001, workerCpuMs / 1_000)),
      redisCpuMs: cpu0.redis === undefined || stack.redisPid === undefined ? null : cpuMs(stack.redisPid) - cpu0.redis,
    };
  } finally {
    // Never leave the queue paused, whatever happened.
    await usage.resume();
  }
}

/**
 * A backlog of `clients` × `loadMs` of 1 KB turns drained, then one of `longLoadMs` of `longBytes` conversations.
 * @example
 * const r = await drain(ctx, 20, 20_000, 20_000, 200_000);
 */
export async function drain(
  ctx: BenchContext,
  clients: number,
  loadMs: number,
  longLoadMs: number,
  longBytes: number,
): Promise<DrainResult> {
  const usage = openUsageQueue(ctx.stack);
  try {
    const session = (kind: string, c: number) => `bench-drain-${kind}-${c}`;
    const small = Array.from({ length: clients }, (_, c) =>
      bodyTemplate(smallBody({ sessionId: session('1kb', c) }), session('1kb', c)),
    );
    const smallPhase = await phase(
      ctx,
      usage,
      '1 KB turns',
      small,
      loadMs,
      smallBody({ sessionId: session('1kb', 0) }).length,
    );
    const longBodies = Array.from({ length: clients }, (_, c) =>
      claudeCodeBody({ targetBytes: longBytes, sessionId: session('long', c), seed: 100 + c }),
    );
    const long = longBodies.map((b, c) => bodyTemplate(b, session('long', c)));
    const longPhase = await phase(
      ctx,
      usage,
      `${Math.round(longBytes / 1_000)} KB conversations`,
      long,
      longLoadMs,
      longBodies[0]?.length ?? 0,
    );
    return { small: smallPhase, long: longPhase };
  } finally {
    await usage.close();
  }
}
