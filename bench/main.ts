// `npm run bench`: the chain (gateway → node → fake upstream, accounting on) against a direct
// connection to the same fake upstream, interleaved in one run on loopback. Prints a table with the
// issue's targets (pass or miss: a benchmark reports, it never fails on a miss) and writes JSON.
import os from 'node:os';
import { join, resolve } from 'node:path';
import { createContext, type BenchContext } from './context.js';
import {
  INSTANT_UPSTREAM,
  parseBenchArgs,
  REALISTIC,
  SCENARIOS,
  SLOW_UPSTREAM,
  type BenchOptions,
  type ScenarioName,
} from './options.js';
import { cpuDelta, machineBusyMs, type CpuSnapshot } from './proc-stats.js';
import {
  evaluate,
  formatHopTable,
  formatResourceTable,
  formatTable,
  machineInfo,
  writeResults,
  type ResourceUse,
  type Row,
  type ScenarioResults,
} from './report.js';
import { accounting } from './scenarios/accounting.js';
import { drain } from './scenarios/drain.js';
import { fidelity } from './scenarios/fidelity.js';
import { heldStreams } from './scenarios/held-streams.js';
import { hugeRun } from './scenarios/huge-run.js';
import { firstDeltaLatency, sequentialLatency } from './scenarios/latency.js';
import { openAiFormatLatency } from './scenarios/openai-format.js';
import { soak } from './scenarios/soak.js';
import { throughput } from './scenarios/throughput.js';
import { build, createCleanup, startBenchStack, type Cleanup } from './stack.js';

const log = (line: string): void => void process.stderr.write(`bench: ${line}\n`);

type Step = {
  /** The name `--only` takes. */
  name: ScenarioName;
  key: keyof ScenarioResults;
  label: string;
  run(ctx: BenchContext): Promise<ScenarioResults[keyof ScenarioResults]>;
  /** false: nothing timed (no need to wait for a quiet machine). */
  timed?: false;
};

/** The scenarios in the order they run; each sets the fake's pacing it needs. */
function steps(ctx: BenchContext): Step[] {
  const c = ctx.counts;
  const timed =
    <T>(timing: typeof REALISTIC, run: () => Promise<T>) =>
    async () => {
      await ctx.stack.fake.setTiming(timing);
      return run();
    };
  return [
    {
      name: 'latency-1kb',
      key: 'latency1kb',
      label: `sequential 1 KB × ${c.seqSmall}`,
      run: timed(REALISTIC, () => sequentialLatency(ctx, ctx.small, c.seqSmall)),
    },
    {
      name: 'latency-1mb',
      key: 'latency1mb',
      label: `sequential 1 MB × ${c.seqLarge}`,
      run: timed(REALISTIC, () => sequentialLatency(ctx, ctx.large, c.seqLarge)),
    },
    {
      name: 'first-delta',
      key: 'firstDelta',
      label: `${c.ttfdConcurrency} concurrent streams × ${c.ttfdRounds} rounds`,
      run: timed(REALISTIC, () => firstDeltaLatency(ctx, ctx.small, c.ttfdConcurrency, c.ttfdRounds)),
    },
    {
      name: 'openai-1kb',
      key: 'openAi1kb',
      label: `OpenAI format 1 KB × ${c.seqSmall}`,
      run: timed(REALISTIC, () => openAiFormatLatency(ctx, c.seqSmall)),
    },
    {
      name: 'fidelity-1kb',
      key: 'fidelity1kb',
      label: 'SSE fidelity 1 KB',
      run: timed(REALISTIC, () => fidelity(ctx, ctx.small)),
      timed: false,
    },
    {
      name: 'fidelity-1mb',
      key: 'fidelity1mb',
      label: 'SSE fidelity 1 MB',
      run: timed(REALISTIC, () => fidelity(ctx, ctx.large)),
      timed: false,
    },
    {
      name: 'held-streams',
      key: 'heldStreams',
      label: `${c.heldStreams} held streams, then aborted`,
      run: () => heldStreams(ctx, c.heldStreams),
    },
    {
      name: 'throughput-1kb',
      key: 'throughput1kb',
      label: `throughput 1 KB, ${c.tputSmallClients} clients`,
      run: timed(SLOW_UPSTREAM, () => throughput(ctx, ctx.small, c.tputSmallClients, c.tputPhaseMs)),
    },
    {
      name: 'throughput-1mb',
      key: 'throughput1mb',
      label: `throughput 1 MB, ${c.tputLargeClients} clients`,
      run: timed(INSTANT_UPSTREAM, () => throughput(ctx, ctx.large, c.tputLargeClients, c.tputPhaseMs)),
    },
    {
      name: 'soak',
      key: 'soak',
      label: `soak, ${c.soakClients} clients × ${c.soakMs / 1000} s`,
      run: timed(REALISTIC, () => soak(ctx, c.soakClients, c.soakMs)),
    },
    {
      name: 'drain',
      key: 'drain',
      label: `worker capacity, ${c.drainClients} clients`,
      run: timed(REALISTIC, () => drain(ctx, c.drainClients, c.drainMs, c.drainLongMs, c.drainLongBytes)),
    },
    // Last before the accounting check: without a tokeniser budget the huge job can hold the worker for good.
    {
      name: 'huge-run',
      key: 'hugeRun',
      label: `one ${c.hugeRunChars}-character run, then ${c.hugeOrdinary} ordinary requests`,
      run: timed(REALISTIC, () => hugeRun(ctx, c.hugeRunChars, c.hugeOrdinary, c.hugeWaitMs)),
    },
    { name: 'accounting', key: 'accounting', label: 'accounting', run: () => accounting(ctx), timed: false },
  ];
}

// Scenarios that ran while other processes took more than this share of the machine are flagged.
const NOISY_PCT = 15;

/**
 * Full mode: waits (up to `maxWaitMs`) until processes outside the bench use less than NOISY_PCT of
 * the machine over a one-second sample, so a scenario does not share the CPUs with someone else's load.
 * @returns how long it waited
 */
async function waitForQuiet(ctx: BenchContext, cores: number, maxWaitMs: number): Promise<number> {
  const started = performance.now();
  const until = started + maxWaitMs;
  for (let said = false; ; said = true) {
    const cpu = ctx.cpu();
    const busy = machineBusyMs();
    await new Promise((r) => setTimeout(r, 1_000));
    const other = resourceUse(1_000, cpuDelta(cpu, ctx.cpu()), machineBusyMs() - busy, cores).otherProcessesPct ?? 0;
    if (other < NOISY_PCT) return performance.now() - started;
    if (performance.now() > until) {
      log(`other processes still use ${other}% of the machine; running anyway`);
      return performance.now() - started;
    }
    if (!said) log(`other processes use ${other}% of the machine; waiting for them (up to ${maxWaitMs / 1000} s)`);
  }
}

function resourceUse(wallMs: number, cpu: CpuSnapshot, machineBusy: number, cores: number): ResourceUse {
  const ours = Object.values(cpu).reduce((a, b) => a + b, 0);
  const other = Math.max(0, machineBusy - ours);
  // /proc/stat counts in 10 ms ticks: under a second the share says nothing.
  const otherProcessesPct = wallMs < 1_000 ? null : Math.round((other / (wallMs * cores)) * 1_000) / 10;
  return { wallMs: Math.round(wallMs), cpuMs: cpu, otherProcessesPct };
}

type Outcome = {
  results: ScenarioResults;
  resources: Record<string, ResourceUse>;
  errors: { scenario: string; error: string }[];
};

/**
 * Runs the scenarios in order; one that throws is reported and the others still run. Each one's CPU
 * per process is kept, with the share of the machine other processes took meanwhile (noise).
 */
async function runScenarios(
  ctx: BenchContext,
  quick: boolean,
  only: readonly ScenarioName[],
  cores: number,
): Promise<Outcome> {
  const outcome: Outcome = { results: {}, resources: {}, errors: [] };
  // At most 90 s of waiting for a quiet machine in all, so a full run stays within five minutes.
  let quietBudgetMs = 90_000;
  for (const step of steps(ctx).filter((s) => only.includes(s.name))) {
    if (!quick && step.timed !== false) quietBudgetMs -= await waitForQuiet(ctx, cores, Math.max(0, quietBudgetMs));
    const started = performance.now();
    const cpuBefore = ctx.cpu();
    const busyBefore = machineBusyMs();
    log(`${step.label} …`);
    try {
      (outcome.results as Record<string, unknown>)[step.key] = await step.run(ctx);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      outcome.errors.push({ scenario: step.key, error: message });
      log(`${step.label} FAILED: ${message}`);
    }
    const use = resourceUse(
      performance.now() - started,
      cpuDelta(cpuBefore, ctx.cpu()),
      machineBusyMs() - busyBefore,
      cores,
    );
    outcome.resources[step.key] = use;
    log(
      `${step.label}: ${(use.wallMs / 1000).toFixed(1)} s${use.otherProcessesPct === null ? '' : `, other processes ${use.otherProcessesPct}% of the machine`}`,
    );
  }
  return outcome;
}

function printReport(
  rows: Row[],
  results: ScenarioResults,
  resources: Record<string, ResourceUse>,
  errors: number,
  durationSec: number,
): void {
  const out = (text: string) => void process.stdout.write(text);
  out(`\n${formatTable(rows)}\n\n`);
  out(
    `Sequential chain requests by hop, from the gateway's and node's log lines (p50 / p99, ms):\n\n${formatHopTable(results)}\n\n`,
  );
  out(`CPU seconds per process while each scenario ran:\n\n${formatResourceTable(resources)}\n\n`);
  for (const [key, use] of Object.entries(resources)) {
    if ((use.otherProcessesPct ?? 0) >= NOISY_PCT)
      out(
        `warning: other processes used ${use.otherProcessesPct}% of the machine during ${key}; its numbers are noisy\n`,
      );
  }
  const met = rows.filter((r) => r.pass === true).length;
  const missed = rows.filter((r) => r.pass === false).length;
  out(`${met} targets met, ${missed} missed; ${errors} scenario errors; ${durationSec} s\n`);
}

/** Ctrl-C, a closed terminal, a crash: every process stopped and the keys deleted before exiting. */
function cleanUpOnExit(cleanup: Cleanup): void {
  const interrupted = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping every process and deleting the bench's Redis keys`);
    void cleanup.run().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  process.once('SIGHUP', interrupted);
  // A reader that went away (`npm run bench | head`) must not kill the bench before it cleaned up.
  process.stdout.on('error', () => undefined);
  process.stderr.on('error', () => undefined);
  process.once('uncaughtException', (err) => {
    log(`crashed: ${err.stack ?? err.message}`);
    void cleanup.run().finally(() => process.exit(1));
  });
}

async function run(opts: BenchOptions, root: string): Promise<number> {
  const startedAt = new Date();
  const t0 = performance.now();
  const cleanup = createCleanup(log);
  cleanUpOnExit(cleanup);
  try {
    // 1. Build, so the processes run the code in the tree (tsc -b is a no-op when dist is current).
    if (opts.build) build(root);
    const machine = machineInfo(root, '');
    const loadAtStart = os.loadavg().map((x) => Math.round(x * 100) / 100);
    // 2. The stack, from dist, with the fake's realistic pacing.
    const resultsDir = opts.resultsDir ?? join(root, 'bench/results');
    const cpuProfDir = opts.cpuProf
      ? join(resultsDir, `profiles-${startedAt.toISOString().replace(/[:.]/g, '-')}`)
      : undefined;
    if (cpuProfDir !== undefined)
      cleanup.add('profiles', () => log(`CPU profiles (written as the processes exit): ${cpuProfDir}`));
    const stack = await startBenchStack({
      root,
      timing: REALISTIC,
      gitSha: machine.gitSha,
      keepLogs: opts.keepLogs,
      otel: opts.otel,
      cleanup,
      log,
      ...(cpuProfDir === undefined ? {} : { cpuProfDir }),
      ...(opts.redisUrl === undefined ? {} : { redisUrl: opts.redisUrl }),
    });
    machine.redis = /redis_version:(\S+)/.exec(await stack.redis.info('server'))?.[1] ?? 'unknown';
    const ctx = createContext(stack, opts.counts, log);
    cleanup.add('client agents', () => ctx.close());

    // 3. The scenarios.
    const { results, resources, errors } = await runScenarios(ctx, opts.quick, opts.only, machine.cores);

    // 4. The report: tables on stdout, JSON in the results dir.
    const rows = evaluate(results, opts.counts);
    const durationSec = Math.round(performance.now() - t0) / 1000;
    printReport(rows, results, resources, errors.length, durationSec);
    const written = writeResults(resultsDir, {
      startedAt: startedAt.toISOString(),
      mode: opts.quick ? ('quick' as const) : ('full' as const),
      profiled: opts.cpuProf,
      tracing: opts.otel,
      durationSec,
      machine,
      loadAverageAtStart: loadAtStart,
      redisPrefix: stack.prefix,
      pids: { fake: stack.fake.pid, gateway: stack.gateway.pid, node: stack.node.pid, worker: stack.worker.pid },
      partial: opts.only.length < SCENARIOS.length,
      only: opts.only,
      fakeTiming: {
        realistic: REALISTIC,
        throughput1kb: SLOW_UPSTREAM,
        throughput1mb: INSTANT_UPSTREAM,
        soak: REALISTIC,
        drain: REALISTIC,
        hugeRun: REALISTIC,
      },
      bodyBytes: { small: ctx.small.body.length, large: ctx.large.body.length },
      counts: opts.counts,
      scenarios: results,
      resources,
      targets: rows,
      errors,
    });
    process.stdout.write(`results: ${written.join(', ')}\n`);
    return errors.length === 0 ? 0 : 1;
  } finally {
    await cleanup.run();
  }
}

const root = resolve(import.meta.dirname, '..');
let options: BenchOptions;
try {
  options = parseBenchArgs(process.argv.slice(2), { REDIS_URL: process.env.REDIS_URL });
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(2);
}
run(options, root).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
