// Streams held open: resident memory per hop with n open through the chain; then every client aborts
// at once: how long until the fake upstream saw all of them closed, and until the gateway's and the
// node's socket counts are back at their baseline. The same burst straight to the fake is the floor.
// Single aborts, one stream at a time, give the teardown a cancelled turn sees.
import http from 'node:http';
import { holdStream, type HeldStream, type Target } from '../client.js';
import type { BenchContext } from '../context.js';
import { HOLD_OPEN, REALISTIC } from '../options.js';
import { rssMb, socketCount } from '../proc-stats.js';
import { summarize, type Summary } from '../stats.js';

/** Memory of one process before and with the streams open. */
export interface HopMemory {
  beforeMb: number;
  withMb: number;
  /** (with − before), scaled to 1000 streams. */
  perThousandMb: number;
}

/** Socket counts of one process. */
export interface HopSockets {
  before: number;
  with: number;
  after: number;
}

/** What holding and aborting the streams showed. */
export interface HeldStreamsResult {
  streams: number;
  opened: number;
  openMs: number;
  memory: { gateway: HopMemory; node: HopMemory };
  /** From the first abort until the fake had no request open any more (chain). */
  upstreamClosedMs: number;
  /** The same burst of aborts straight to the fake: the client's and the fake's own share. */
  directClosedMs: number;
  /** From the first abort until both processes were back at (or below) their baseline socket count. */
  socketsBackMs: number;
  sockets: { gateway: HopSockets; node: HopSockets };
  /** One stream at a time: abort → the fake saw it closed, in ms. */
  singleAbort: { direct: Summary; chain: Summary };
}

const round = (x: number): number => Math.round(x * 100) / 100;
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function socketsBack(pids: { pid: number; baseline: number }[], timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (pids.some((p) => socketCount(p.pid) > p.baseline)) {
    if (performance.now() > deadline) throw new Error(`socket counts not back at baseline after ${timeoutMs} ms`);
    await pause(2);
  }
}

/** Opens n streams in batches of 100, so the listen backlogs never overflow (a dropped SYN costs a 1 s retry). */
async function openStreams(
  ctx: BenchContext,
  target: Target,
  agent: http.Agent,
  n: number,
): Promise<{ held: HeldStream[]; opened: number }> {
  const held: HeldStream[] = [];
  let opened = 0;
  for (let i = 0; i < n; i += 100) {
    const batch = Array.from({ length: Math.min(100, n - i) }, () =>
      holdStream(target, ctx.small.body, ctx.small.headers, agent),
    );
    held.push(...batch);
    opened += (await Promise.all(batch.map((h) => h.opened))).filter(Boolean).length;
  }
  return { held, opened };
}

async function singleAborts(ctx: BenchContext, target: Target, agent: http.Agent, k: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < k; i++) {
    const stream = holdStream(target, ctx.small.body, ctx.small.headers, agent);
    if (!(await stream.opened)) throw new Error(`a ${target.route} stream did not open`);
    const abortedAt = performance.now();
    stream.abort();
    await ctx.stack.fake.waitOpenRequests(0, 5_000);
    times.push(performance.now() - abortedAt);
  }
  return times;
}

/**
 * Opens `n` streams through the chain (the fake holds each before its first delta), measures, aborts;
 * then the same burst direct, then `counts.singleAborts` one-at-a-time aborts each way.
 * @example
 * const result = await heldStreams(ctx, 1000);
 */
export async function heldStreams(ctx: BenchContext, n: number): Promise<HeldStreamsResult> {
  const { stack } = ctx;
  const chain = ctx.target('chain', 1);
  const direct = ctx.target('direct', 1);
  const agent = new http.Agent({ keepAlive: false, maxSockets: n + 16 });
  await stack.fake.setTiming(HOLD_OPEN);
  try {
    await pause(ctx.counts.settleMs);
    const pids = { gateway: stack.gateway.pid, node: stack.node.pid };
    const sample = () => ({
      gateway: { rss: rssMb(pids.gateway), sockets: socketCount(pids.gateway) },
      node: { rss: rssMb(pids.node), sockets: socketCount(pids.node) },
    });
    const before = sample();
    if ((await stack.fake.openRequests()) !== 0) throw new Error('the fake has requests open before the scenario');

    const startedOpen = performance.now();
    const { held, opened } = await openStreams(ctx, chain, agent, n);
    const openMs = performance.now() - startedOpen;
    await pause(ctx.counts.settleMs);
    const withStreams = sample();

    const abortedAt = performance.now();
    for (const h of held) h.abort();
    const closed = stack.fake.waitOpenRequests(0, 30_000).then(() => performance.now() - abortedAt);
    const back = socketsBack(
      [
        { pid: pids.gateway, baseline: before.gateway.sockets },
        { pid: pids.node, baseline: before.node.sockets },
      ],
      30_000,
    ).then(() => performance.now() - abortedAt);
    const [upstreamClosedMs, socketsBackMs] = await Promise.all([closed, back]);
    const after = { gateway: socketCount(pids.gateway), node: socketCount(pids.node) };

    // The floor: the same burst straight to the fake.
    const direct1 = await openStreams(ctx, direct, agent, n);
    if (direct1.opened !== n) throw new Error(`${n - direct1.opened} direct streams did not open`);
    const directAbortedAt = performance.now();
    for (const h of direct1.held) h.abort();
    await stack.fake.waitOpenRequests(0, 30_000);
    const directClosedMs = performance.now() - directAbortedAt;

    const single = {
      direct: await singleAborts(ctx, direct, agent, ctx.counts.singleAborts),
      chain: await singleAborts(ctx, chain, agent, ctx.counts.singleAborts),
    };

    const hop = (name: 'gateway' | 'node'): HopMemory => ({
      beforeMb: round(before[name].rss),
      withMb: round(withStreams[name].rss),
      perThousandMb: round(((withStreams[name].rss - before[name].rss) * 1_000) / Math.max(1, opened)),
    });
    return {
      streams: n,
      opened,
      openMs: round(openMs),
      memory: { gateway: hop('gateway'), node: hop('node') },
      upstreamClosedMs: round(upstreamClosedMs),
      directClosedMs: round(directClosedMs),
      socketsBackMs: round(socketsBackMs),
      sockets: {
        gateway: { before: before.gateway.sockets, with: withStreams.gateway.sockets, after: after.gateway },
        node: { before: before.node.sockets, with: withStreams.node.sockets, after: after.node },
      },
      singleAbort: { direct: summarize(single.direct), chain: summarize(single.chain) },
    };
  } finally {
    agent.destroy();
    await stack.fake.setTiming(REALISTIC);
  }
}
