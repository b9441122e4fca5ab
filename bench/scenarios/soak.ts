// Soak: clients send Claude Code-shaped 1 KB turns through the chain for minutes while the usage worker
// counts them. The usage queue's depth is sampled every second; after the load, how long until the
// backlog is gone (queue empty and every request counted), and whether each was counted exactly once.
import { smallBody } from '../bodies.js';
import type { BenchContext } from '../context.js';
import { bodyTemplate, mixedLoad, type LoadResult } from '../mixed-load.js';
import { cpuMs } from '../proc-stats.js';
import { openUsageQueue, sampleDepth, settleUsage } from '../usage-queue.js';

/** What the soak showed. */
export interface SoakResult {
  load: LoadResult;
  /** The backlog of earlier scenarios was gone before the soak started (else its counts are suspect). */
  priorSettled: boolean;
  /** waiting + active, sampled every second during the load. */
  depth: { max: number; atEndOfLoad: number; samples: number[] };
  /** `usage:total` requests: growth from the start of the soak until it stopped waiting. */
  counted: number;
  countedExactly: boolean;
  /** From the end of the load until the queue was empty and every request counted; null: not within the wait. */
  backlogGoneMs: number | null;
  /** The worker's CPU from the start of the load until the backlog was gone (or the wait gave up). */
  worker: { cpuMs: number; jobsPerCpuSecond: number };
  /** The gateway's CPU during the load. */
  gateway: { cpuMs: number; cpuMsPerRequest: number };
}

/**
 * `clients` clients for `durationMs`, then waits up to `counts.accountingWaitMs` for the backlog.
 * @example
 * const r = await soak(ctx, 20, 120_000);
 */
export async function soak(ctx: BenchContext, clients: number, durationMs: number): Promise<SoakResult> {
  const { stack } = ctx;
  const usage = openUsageQueue(stack);
  try {
    const priorSettled = await settleUsage(usage, ctx.chainRequestsSent(), ctx.counts.accountingWaitMs);
    if (!priorSettled) ctx.log('  earlier scenarios still had usage jobs to count; the soak starts anyway');
    const templates = Array.from({ length: clients }, (_, c) =>
      bodyTemplate(smallBody({ sessionId: `bench-soak-${c}` }), `bench-soak-${c}`),
    );
    const target = ctx.target('chain', clients);
    const before = await usage.counted();
    const cpu0 = { worker: cpuMs(stack.worker.pid), gateway: cpuMs(stack.gateway.pid) };

    const sampler = sampleDepth(usage, 1_000);
    const load = await mixedLoad(target, templates, durationMs, 'soak');
    const samples = sampler.stop();
    const gatewayCpu = cpuMs(stack.gateway.pid) - cpu0.gateway;
    const atEnd = await usage.depth();
    ctx.log(
      `  ${load.sent} requests (${load.rps}/s), ${load.errors} errors; ${atEnd.waiting + atEnd.active} jobs queued at the end of the load`,
    );

    const drained = await usage.waitDrained(before + load.sent, ctx.counts.accountingWaitMs);
    const workerCpu = cpuMs(stack.worker.pid) - cpu0.worker;
    const counted = drained.counted - before;
    return {
      load,
      priorSettled,
      depth: {
        max: Math.max(atEnd.waiting + atEnd.active, ...samples),
        atEndOfLoad: atEnd.waiting + atEnd.active,
        samples,
      },
      counted,
      countedExactly: counted === load.sent,
      backlogGoneMs: drained.ms,
      worker: { cpuMs: workerCpu, jobsPerCpuSecond: Math.round(counted / Math.max(0.001, workerCpu / 1_000)) },
      gateway: {
        cpuMs: gatewayCpu,
        cpuMsPerRequest: Math.round((gatewayCpu / Math.max(1, load.sent)) * 1_000) / 1_000,
      },
    };
  } finally {
    await usage.close();
  }
}
