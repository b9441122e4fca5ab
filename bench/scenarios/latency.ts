// Added latency: sequential requests (full response), and concurrent streams (time to the first text
// delta). Direct and chain alternate, ABBA, so drift and noise hit both alike.
import { exchange, type Exchange, type Target } from '../client.js';
import type { BenchContext, Payload } from '../context.js';
import { hopBreakdown, type HopBreakdown } from '../hops.js';
import { minus, summarize, type Summary } from '../stats.js';

/** Direct vs chain for one metric. */
export interface Comparison {
  direct: Summary;
  chain: Summary;
  /** chain − direct, at p50 and p99. */
  added: { p50: number; p99: number };
  errors: { direct: number; chain: number };
  /** The first few error kinds seen, for the report. */
  errorKinds: string[];
  /** Sequential runs: the chain's time split by hop, from the gateway's and node's log lines. */
  hops?: HopBreakdown;
}

export function compare(direct: number[], chain: number[], failed: Exchange[]): Comparison {
  const d = summarize(direct);
  const c = summarize(chain);
  return {
    direct: d,
    chain: c,
    added: { p50: minus(c.p50, d.p50), p99: minus(c.p99, d.p99) },
    errors: {
      direct: failed.filter((x) => x.route === 'direct').length,
      chain: failed.filter((x) => x.route === 'chain').length,
    },
    errorKinds: [...new Set(failed.map((x) => `${x.route}: ${x.error ?? 'unknown'}`))].slice(0, 5),
  };
}

async function warm(targets: Target[], payload: Payload, n: number): Promise<void> {
  for (let i = 0; i < n; i++) for (const t of targets) await exchange(t, payload.body, payload.headers);
}

/**
 * `n` sequential requests per route, alternating; the metric is the whole response (last byte).
 * @example
 * const result = await sequentialLatency(ctx, ctx.small, 500);
 */
export async function sequentialLatency(ctx: BenchContext, payload: Payload, n: number): Promise<Comparison> {
  const direct = ctx.target('direct', 4);
  const chain = ctx.target('chain', 4);
  await warm([direct, chain], payload, ctx.counts.warmup);
  const samples = { direct: [] as number[], chain: [] as number[] };
  const failed: Exchange[] = [];
  const chained: Exchange[] = [];
  for (let i = 0; i < n; i++) {
    for (const t of i % 2 === 0 ? [direct, chain] : [chain, direct]) {
      const x = await exchange(t, payload.body, payload.headers);
      if (!x.ok) failed.push(x);
      else {
        samples[t.route].push(x.totalMs);
        if (t.route === 'chain') chained.push(x);
      }
    }
  }
  const result = compare(samples.direct, samples.chain, failed);
  // The processes write their access lines as each response ends; give the last one a moment.
  await new Promise((r) => setTimeout(r, 200));
  result.hops = hopBreakdown(
    { gatewayLog: ctx.stack.gateway.logFile, nodeLog: ctx.stack.node.logFile },
    chained,
    result.direct.p50,
  );
  return result;
}

/**
 * Rounds of `concurrency` streams started together, a round direct then a round through the chain
 * (alternating which goes first); the metric is the time to the first text delta.
 * @example
 * const result = await firstDeltaLatency(ctx, ctx.small, 16, 100);
 */
export async function firstDeltaLatency(
  ctx: BenchContext,
  payload: Payload,
  concurrency: number,
  rounds: number,
): Promise<Comparison> {
  const direct = ctx.target('direct', concurrency);
  const chain = ctx.target('chain', concurrency);
  const burst = (t: Target) =>
    Promise.all(Array.from({ length: concurrency }, () => exchange(t, payload.body, payload.headers)));
  for (let i = 0; i < Math.max(2, ctx.counts.warmup / 10); i++) {
    await burst(direct);
    await burst(chain);
  }
  const samples = { direct: [] as number[], chain: [] as number[] };
  const failed: Exchange[] = [];
  for (let r = 0; r < rounds; r++) {
    for (const t of r % 2 === 0 ? [direct, chain] : [chain, direct]) {
      for (const x of await burst(t)) {
        if (x.ok) samples[t.route].push(x.firstTextMs);
        else failed.push(x);
      }
    }
  }
  return compare(samples.direct, samples.chain, failed);
}
