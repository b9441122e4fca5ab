// Command line of `npm run bench`, and how much each scenario does in full and in quick mode.
import type { PlainTiming } from '@switchyard/shared/testing';

/** How many requests, clients and seconds each scenario uses. */
export interface Counts {
  /** Sequential requests per route (1 KB), after `warmup` unmeasured ones. */
  seqSmall: number;
  /** Sequential requests per route (1 MB). */
  seqLarge: number;
  warmup: number;
  /** Rounds of `ttfdConcurrency` concurrent streams per route. */
  ttfdRounds: number;
  ttfdConcurrency: number;
  /** Throughput: clients and the length of each of the four phases (direct, chain, chain, direct). */
  tputSmallClients: number;
  tputLargeClients: number;
  tputPhaseMs: number;
  /** Streams held open through the chain, then aborted. */
  heldStreams: number;
  /** Streams aborted one at a time, per route. */
  singleAborts: number;
  /** Pause before the baseline and after the streams opened, so memory and sockets settle. */
  settleMs: number;
  /** How long the usage worker may take to count every chain request after the run. */
  accountingWaitMs: number;
}

/** Parsed options. */
export interface BenchOptions {
  quick: boolean;
  build: boolean;
  /** Keep the scratch dir (process logs) after the run. */
  keepLogs: boolean;
  /** Run the gateway, node and worker with --cpu-prof, profiles written next to the results. */
  cpuProf: boolean;
  resultsDir: string | undefined;
  redisUrl: string | undefined;
  counts: Counts;
}

/** Full mode: about three minutes on a 2-core machine. */
export const FULL: Counts = {
  seqSmall: 500,
  seqLarge: 200,
  warmup: 30,
  ttfdRounds: 100,
  ttfdConcurrency: 16,
  tputSmallClients: 200,
  tputLargeClients: 10,
  tputPhaseMs: 5_000,
  heldStreams: 1_000,
  settleMs: 1_000,
  singleAborts: 50,
  accountingWaitMs: 120_000,
};

/** Quick mode: every scenario with tiny counts, a few seconds (the harness's own test runs it). */
export const QUICK: Counts = {
  seqSmall: 10,
  seqLarge: 4,
  warmup: 3,
  ttfdRounds: 3,
  ttfdConcurrency: 4,
  tputSmallClients: 8,
  tputLargeClients: 2,
  tputPhaseMs: 300,
  heldStreams: 20,
  settleMs: 100,
  singleAborts: 3,
  accountingWaitMs: 30_000,
};

/** The fake's pacing for latency, first-delta and fidelity runs: message_start at once, then paced deltas. */
export const REALISTIC: Partial<PlainTiming> = { firstByteDelayMs: 0, deltaIntervalMs: 2, textDeltas: 5 };
/** 1 KB throughput: every response takes 20 ms upstream (a 20 ms wait, then the whole stream). */
export const SLOW_UPSTREAM: Partial<PlainTiming> = { firstByteDelayMs: 20, deltaIntervalMs: 0, textDeltas: 5 };
/** 1 MB throughput: an instant upstream, so the rate is what moving 1 MB bodies costs. */
export const INSTANT_UPSTREAM: Partial<PlainTiming> = { firstByteDelayMs: 0, deltaIntervalMs: 0, textDeltas: 5 };
/** Held streams: the first delta is ten minutes away, so a stream stays open until it is aborted. */
export const HOLD_OPEN: Partial<PlainTiming> = { firstByteDelayMs: 0, deltaIntervalMs: 600_000, textDeltas: 5 };

export const USAGE = `usage: npm run bench [-- --quick] [--no-build] [--results-dir DIR] [--redis-url redis://…]
  --quick        every scenario with tiny counts (a few seconds); writes <dir>/latest-quick.json
  --no-build     run gateway/node/worker from dist as it is (default: tsc -b first, a no-op when current)
  --keep-logs    keep the scratch dir with the gateway's, node's and worker's logs (its path is printed)
  --cpu-prof     run the gateway, node and worker with node --cpu-prof; the profiles land in
                 <dir>/profiles-<time>/ (the profiler costs a few percent: not a run for the table)
  --results-dir  where the JSON goes (default bench/results)
  --redis-url    Redis to use (default REDIS_URL, else 127.0.0.1:6379, else a throwaway redis-server)`;

/**
 * Parses argv (without node and the script).
 * @example
 * parseBenchArgs(['--quick']).counts.seqSmall // 10
 */
export function parseBenchArgs(argv: string[], env: { REDIS_URL?: string | undefined } = {}): BenchOptions {
  let quick = false;
  let build = true;
  let keepLogs = false;
  let cpuProf = false;
  let resultsDir: string | undefined;
  let redisUrl = env.REDIS_URL;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') quick = true;
    else if (arg === '--no-build') build = false;
    else if (arg === '--keep-logs') keepLogs = true;
    else if (arg === '--cpu-prof') cpuProf = true;
    else if (arg === '--results-dir' && argv[i + 1] !== undefined) resultsDir = argv[++i];
    else if (arg === '--redis-url' && argv[i + 1] !== undefined) redisUrl = argv[++i];
    else throw new Error(`unknown argument ${arg ?? ''}\n${USAGE}`);
  }
  return { quick, build, keepLogs, cpuProf, resultsDir, redisUrl, counts: quick ? QUICK : FULL };
}
