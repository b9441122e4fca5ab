// Command line of `npm run bench`, and how much each scenario does in full and in quick mode.
import type { PlainTiming } from '@switchyard/testkit';
// A constant only: the module loads js-tiktoken lazily, when a tokeniser is created, never at import.
import { DEFAULT_JOB_TOKENIZER_BUDGET_MS } from '../gateway/src/usage-worker/tokenizer.js';

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
  /** How long the usage worker may take to count every chain request after the run (and after each accounting scenario's load). */
  accountingWaitMs: number;
  /** Soak: clients sending the mixed load (60% streamed, 10% aborted) for `soakMs`. */
  soakClients: number;
  soakMs: number;
  /** Worker capacity: clients, and how long they build each backlog (1 KB turns, then long conversations). */
  drainClients: number;
  drainMs: number;
  drainLongMs: number;
  /** Size of each client's long conversation. */
  drainLongBytes: number;
  /** One huge run: its length in characters, the ordinary requests sent right after, how long to wait for them to be counted. */
  hugeRunChars: number;
  hugeOrdinary: number;
  hugeWaitMs: number;
}

/** Parsed options. */
export interface BenchOptions {
  quick: boolean;
  build: boolean;
  /** Keep the scratch dir (process logs) after the run. */
  keepLogs: boolean;
  /** Run the gateway, node and worker with --cpu-prof, profiles written next to the results. */
  cpuProf: boolean;
  /** Run every process with tracing on, exporting to an OTLP receiver the bench starts on loopback. */
  otel: boolean;
  resultsDir: string | undefined;
  redisUrl: string | undefined;
  /** The scenarios to run (all unless --only). */
  only: ScenarioName[];
  counts: Counts;
}

/** Full mode: about six minutes on a 2-core machine (the soak alone is two). */
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
  soakClients: 20,
  soakMs: 120_000,
  drainClients: 20,
  drainMs: 20_000,
  drainLongMs: 20_000,
  drainLongBytes: 200_000,
  hugeRunChars: 1_048_576,
  hugeOrdinary: 50,
  hugeWaitMs: 60_000,
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
  soakClients: 4,
  soakMs: 2_000,
  drainClients: 4,
  drainMs: 500,
  drainLongMs: 500,
  drainLongBytes: 200_000,
  // A short run: the harness's own check. A worker that tokenised runs in quadratic time would spend hours on 1 MiB.
  hugeRunChars: 2_048,
  hugeOrdinary: 10,
  hugeWaitMs: 20_000,
};

/** The fake's pacing for latency, first-delta and fidelity runs: message_start at once, then paced deltas. */
export const REALISTIC: Partial<PlainTiming> = { firstByteDelayMs: 0, deltaIntervalMs: 2, textDeltas: 5 };
/** 1 KB throughput: every response takes 20 ms upstream (a 20 ms wait, then the whole stream). */
export const SLOW_UPSTREAM: Partial<PlainTiming> = { firstByteDelayMs: 20, deltaIntervalMs: 0, textDeltas: 5 };
/** 1 MB throughput: an instant upstream, so the rate is what moving 1 MB bodies costs. */
export const INSTANT_UPSTREAM: Partial<PlainTiming> = { firstByteDelayMs: 0, deltaIntervalMs: 0, textDeltas: 5 };
/** Held streams: the first delta is ten minutes away, so a stream stays open until it is aborted. */
export const HOLD_OPEN: Partial<PlainTiming> = { firstByteDelayMs: 0, deltaIntervalMs: 600_000, textDeltas: 5 };

/**
 * The huge-run target: the worker's CPU for one job whose text is a 1 MiB run of one character may be
 * its tokeniser budget per job (the worker's default; the bench does not set WORKER_JOB_TOKENIZER_BUDGET_MS)
 * plus 250 ms for the rest of the job (parsing, hashing, Redis).
 */
export const HUGE_JOB_CPU_TARGET_MS = DEFAULT_JOB_TOKENIZER_BUDGET_MS + 250;

/** The scenarios in the order they run, as `--only` names them. */
export const SCENARIOS = [
  'latency-1kb',
  'latency-1mb',
  'first-delta',
  'openai-1kb',
  'fidelity-1kb',
  'fidelity-1mb',
  'held-streams',
  'throughput-1kb',
  'throughput-1mb',
  'soak',
  'drain',
  'huge-run',
  'accounting',
] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export const USAGE = `usage: npm run bench [-- --quick] [--only NAME,…] [--no-build] [--results-dir DIR] [--redis-url redis://…]
  --quick        every scenario with tiny counts (a few seconds); writes <dir>/latest-quick.json
  --only         run only these scenarios (the stack still starts), e.g. --only soak,drain,huge-run; names:
                 ${SCENARIOS.join(', ')}; writes <dir>/latest-only.json (latest.json stays a whole run)
  --no-build     run gateway/node/worker from dist as it is (default: tsc -b first, a no-op when current)
  --keep-logs    keep the scratch dir with the gateway's, node's and worker's logs (its path is printed)
  --cpu-prof     run the gateway, node and worker with node --cpu-prof; the profiles land in
                 <dir>/profiles-<time>/ (the profiler costs a few percent: not a run for the table)
  --otel         run the gateway, node and worker with tracing on (OpenTelemetry), exporting to an OTLP/HTTP
                 receiver the bench starts on 127.0.0.1 (the SDK's default 5 s batching): what tracing costs
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
  let otel = false;
  let resultsDir: string | undefined;
  let redisUrl = env.REDIS_URL;
  let only: ScenarioName[] = [...SCENARIOS];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') quick = true;
    else if (arg === '--no-build') build = false;
    else if (arg === '--keep-logs') keepLogs = true;
    else if (arg === '--cpu-prof') cpuProf = true;
    else if (arg === '--otel') otel = true;
    else if (arg === '--results-dir' && argv[i + 1] !== undefined) resultsDir = argv[++i];
    else if (arg === '--redis-url' && argv[i + 1] !== undefined) redisUrl = argv[++i];
    else if (arg === '--only' && argv[i + 1] !== undefined) only = parseOnly(argv[++i] ?? '');
    else throw new Error(`unknown argument ${arg ?? ''}\n${USAGE}`);
  }
  return { quick, build, keepLogs, cpuProf, otel, resultsDir, redisUrl, only, counts: quick ? QUICK : FULL };
}

function parseOnly(list: string): ScenarioName[] {
  const names = list
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  const unknown = names.filter((n) => !(SCENARIOS as readonly string[]).includes(n));
  if (names.length === 0 || unknown.length > 0)
    throw new Error(`--only: unknown scenario ${unknown.join(', ') || '(none given)'}\n${USAGE}`);
  return names as ScenarioName[];
}
