// The report: the targets checked against the results (pass or miss, never a failure), a
// Markdown table for the terminal and BENCHMARKS.md, and the JSON written for comparing runs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { AccountingResult } from './scenarios/accounting.js';
import type { DrainResult } from './scenarios/drain.js';
import type { FidelityResult } from './scenarios/fidelity.js';
import type { HeldStreamsResult } from './scenarios/held-streams.js';
import type { HugeRunResult } from './scenarios/huge-run.js';
import type { Comparison } from './scenarios/latency.js';
import type { SoakResult } from './scenarios/soak.js';
import type { ThroughputResult } from './scenarios/throughput.js';
import { drainRows, hugeRunRows, soakRows } from './usage-rows.js';

/** Each scenario's result, or the error that stopped it. */
export interface ScenarioResults {
  latency1kb?: Comparison;
  latency1mb?: Comparison;
  firstDelta?: Comparison;
  /** The OpenAI format against the Messages format, both through the chain (`direct` holds the Messages side). */
  openAi1kb?: Comparison;
  fidelity1kb?: FidelityResult;
  fidelity1mb?: FidelityResult;
  heldStreams?: HeldStreamsResult;
  throughput1kb?: ThroughputResult;
  throughput1mb?: ThroughputResult;
  soak?: SoakResult;
  drain?: DrainResult;
  hugeRun?: HugeRunResult;
  accounting?: AccountingResult;
}

/** What a scenario cost the machine. */
export interface ResourceUse {
  wallMs: number;
  /** CPU ms per process (bench, fake, gateway, node, worker, redis). */
  cpuMs: Record<string, number>;
  /** Busy CPU of processes outside the bench, as a share of the whole machine (noise in the numbers); null under a second (too coarse). */
  otherProcessesPct: number | null;
}

/** CPU seconds per process and scenario as a Markdown table. */
export function formatResourceTable(use: Record<string, ResourceUse>): string {
  const names = ['bench', 'fake', 'gateway', 'node', 'worker', 'redis'];
  const s = (ms: number | undefined): string => (ms === undefined ? '' : (ms / 1_000).toFixed(1));
  const header = ['scenario', 'wall s', ...names, 'other processes'];
  const lines = Object.entries(use).map(([key, u]) => [
    key,
    s(u.wallMs),
    ...names.map((n) => s(u.cpuMs[n])),
    u.otherProcessesPct === null ? '' : `${u.otherProcessesPct}%`,
  ]);
  return [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** One line of the table. */
export interface Row {
  scenario: string;
  metric: string;
  direct: string;
  chain: string;
  delta: string;
  target: string;
  /** undefined: reported, no target. */
  pass: boolean | undefined;
}

const CPU_NAMES = ['fake', 'gateway', 'node', 'worker', 'redis', 'bench'];
const cpuCells = (cpu: Record<string, number>): string =>
  CPU_NAMES.map((n) => (cpu[n] === undefined ? '–' : (cpu[n] ?? 0).toFixed(2))).join(' / ');
const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(2) : 'n/a');
const signed = (x: number): string => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${x.toFixed(2)}` : 'n/a');

function latencyRows(name: string, metric: string, c: Comparison | undefined, p50Max: number, p99Max: number): Row[] {
  if (!c) return [];
  const errors = c.errors.direct + c.errors.chain;
  return [
    {
      scenario: name,
      metric: `${metric} p50 (ms)`,
      direct: ms(c.direct.p50),
      chain: ms(c.chain.p50),
      delta: signed(c.added.p50),
      target: `≤ ${p50Max} ms added`,
      pass: c.added.p50 <= p50Max,
    },
    {
      scenario: name,
      metric: `${metric} p99 (ms)`,
      direct: ms(c.direct.p99),
      chain: ms(c.chain.p99),
      delta: signed(c.added.p99),
      target: `≤ ${p99Max} ms added`,
      pass: c.added.p99 <= p99Max,
    },
    {
      scenario: name,
      metric: 'samples / errors',
      direct: `${c.direct.n} / ${c.errors.direct}`,
      chain: `${c.chain.n} / ${c.errors.chain}`,
      delta: '',
      target: 'no errors',
      pass: errors === 0,
    },
  ];
}

/**
 * The OpenAI format's cost: both columns went through the chain, `direct` in the Messages format and `chain` in
 * the Chat Completions format, so the difference is the translation (reported; the issue set no target).
 */
function openAiRows(c: Comparison | undefined): Row[] {
  if (!c) return [];
  const name = 'OpenAI format 1 KB streamed (direct = Messages format, also through the chain)';
  return [
    {
      scenario: name,
      metric: 'full response p50 (ms)',
      direct: ms(c.direct.p50),
      chain: ms(c.chain.p50),
      delta: signed(c.added.p50),
      target: '',
      pass: undefined,
    },
    {
      scenario: name,
      metric: 'full response p99 (ms)',
      direct: ms(c.direct.p99),
      chain: ms(c.chain.p99),
      delta: signed(c.added.p99),
      target: '',
      pass: undefined,
    },
    {
      scenario: name,
      metric: 'samples / errors',
      direct: `${c.direct.n} / ${c.errors.direct}`,
      chain: `${c.chain.n} / ${c.errors.chain}`,
      delta: '',
      target: 'no errors',
      pass: c.errors.direct + c.errors.chain === 0,
    },
  ];
}

function throughputRows(
  name: string,
  t: ThroughputResult | undefined,
  check: (t: ThroughputResult) => { target: string; pass: boolean },
): Row[] {
  if (!t) return [];
  const { target, pass } = check(t);
  return [
    {
      scenario: name,
      metric: 'requests/s',
      direct: String(t.direct.rps),
      chain: String(t.chain.rps),
      delta: `${t.chainPctOfDirect}% of direct`,
      target,
      pass,
    },
    {
      scenario: name,
      metric: 'responses / errors',
      direct: `${t.direct.ok} / ${t.direct.errors}`,
      chain: `${t.chain.ok} / ${t.chain.errors}`,
      delta: '',
      target: 'no errors',
      pass: t.chain.errors === 0 && t.direct.errors === 0,
    },
    {
      scenario: name,
      metric: 'latency p50 / p99 (ms)',
      direct: `${ms(t.direct.latency.p50)} / ${ms(t.direct.latency.p99)}`,
      chain: `${ms(t.chain.latency.p50)} / ${ms(t.chain.latency.p99)}`,
      delta: '',
      target: '',
      pass: undefined,
    },
    {
      scenario: name,
      metric: `CPU ms per response: ${CPU_NAMES.join(' / ')}`,
      direct: cpuCells(t.direct.cpuMsPerResponse),
      chain: cpuCells(t.chain.cpuMsPerResponse),
      delta: '',
      target: '',
      pass: undefined,
    },
  ];
}

function heldRows(h: HeldStreamsResult | undefined): Row[] {
  if (!h) return [];
  const name = `${h.streams} open streams`;
  const mem = (hop: 'gateway' | 'node'): Row => ({
    scenario: name,
    metric: `RSS ${hop} (MB): before → with`,
    direct: '',
    chain: `${h.memory[hop].beforeMb.toFixed(1)} → ${h.memory[hop].withMb.toFixed(1)}`,
    delta: `${h.memory[hop].perThousandMb.toFixed(1)} MB / 1000`,
    target: '≤ 60 MB / 1000 streams',
    pass: h.opened === h.streams && h.memory[hop].perThousandMb <= 60,
  });
  const s = h.sockets;
  return [
    {
      scenario: name,
      metric: 'streams opened (time to open all)',
      direct: '',
      chain: `${h.opened} (${(h.openMs / 1000).toFixed(1)} s)`,
      delta: '',
      target: 'all',
      pass: h.opened === h.streams,
    },
    mem('gateway'),
    mem('node'),
    {
      scenario: `${h.streams} streams aborted`,
      metric: 'until the upstream saw all closed (ms)',
      direct: ms(h.directClosedMs),
      chain: ms(h.upstreamClosedMs),
      delta: signed(h.upstreamClosedMs - h.directClosedMs),
      target: '≤ 100 ms',
      pass: h.upstreamClosedMs <= 100,
    },
    {
      scenario: `${h.streams} streams aborted`,
      metric: 'sockets gateway / node: before → with → after',
      direct: '',
      chain: `${s.gateway.before} → ${s.gateway.with} → ${s.gateway.after} / ${s.node.before} → ${s.node.with} → ${s.node.after}`,
      delta: `back in ${ms(h.socketsBackMs)} ms`,
      target: 'back at baseline',
      pass: s.gateway.after <= s.gateway.before && s.node.after <= s.node.before,
    },
    {
      scenario: 'single aborts',
      metric: `abort → upstream closed p50 / p99 (ms), ${h.singleAbort.chain.n} each`,
      direct: `${ms(h.singleAbort.direct.p50)} / ${ms(h.singleAbort.direct.p99)}`,
      chain: `${ms(h.singleAbort.chain.p50)} / ${ms(h.singleAbort.chain.p99)}`,
      delta: `${signed(h.singleAbort.chain.p50 - h.singleAbort.direct.p50)} / ${signed(h.singleAbort.chain.p99 - h.singleAbort.direct.p99)}`,
      target: '',
      pass: undefined,
    },
  ];
}

function fidelityRow(f: FidelityResult | undefined): Row[] {
  if (!f) return [];
  return [
    {
      scenario: `SSE fidelity ${f.body}`,
      metric: 'frames / bytes',
      direct: `${f.frames.direct} / ${f.bytes.direct}`,
      chain: `${f.frames.chain} / ${f.bytes.chain}`,
      delta: f.identicalAfterMasking ? 'identical (ids masked)' : 'bodies differ',
      target: 'equal',
      pass: f.equal,
    },
  ];
}

function accountingRows(a: AccountingResult | undefined): Row[] {
  if (!a) return [];
  return [
    {
      scenario: 'accounting',
      metric: 'usage:total requests / chain requests',
      direct: '',
      chain: `${a.counted} / ${a.chainRequests}`,
      delta: `${(a.waitedMs / 1000).toFixed(1)} s after the run`,
      target: 'every request counted',
      pass: a.complete,
    },
    {
      scenario: 'accounting',
      metric: 'js-tiktoken or worker modules in the gateway',
      direct: '',
      chain: a.traceCoversGateway ? String(a.tokenizerModulesInGateway.length) : 'trace missing',
      delta: '',
      target: 'none (no tokenisation)',
      pass: a.traceCoversGateway && a.tokenizerModulesInGateway.length === 0,
    },
    {
      scenario: 'accounting',
      metric: 'OpenTelemetry SDK or exporter modules in the gateway',
      direct: '',
      chain: a.traceCoversGateway ? String(a.tracingSdkModulesInGateway.length) : 'trace missing',
      delta: '',
      target: a.tracing ? 'loaded (tracing on)' : 'none (tracing off)',
      pass:
        a.traceCoversGateway &&
        (a.tracing ? a.tracingSdkModulesInGateway.length > 0 : a.tracingSdkModulesInGateway.length === 0),
    },
  ];
}

/** The table rows, each target of the issue checked. */
export function evaluate(
  r: ScenarioResults,
  counts: { ttfdConcurrency: number; tputSmallClients: number; tputLargeClients: number },
): Row[] {
  return [
    ...latencyRows('sequential 1 KB', 'full response', r.latency1kb, 2, 5),
    ...latencyRows('sequential 1 MB', 'full response', r.latency1mb, 6, 20),
    ...latencyRows(`${counts.ttfdConcurrency} concurrent streams`, 'first text delta', r.firstDelta, 3, 8),
    ...openAiRows(r.openAi1kb),
    ...throughputRows(`throughput 1 KB, ${counts.tputSmallClients} clients, 20 ms upstream`, r.throughput1kb, (t) => ({
      target: '≥ 35% of direct',
      pass: t.chainPctOfDirect >= 35,
    })),
    ...throughputRows(`throughput 1 MB, ${counts.tputLargeClients} clients`, r.throughput1mb, (t) => ({
      target: '≥ 250 req/s',
      pass: t.chain.rps >= 250,
    })),
    ...heldRows(r.heldStreams),
    ...fidelityRow(r.fidelity1kb),
    ...fidelityRow(r.fidelity1mb),
    ...soakRows(r.soak),
    ...drainRows(r.drain),
    ...hugeRunRows(r.hugeRun),
    ...accountingRows(r.accounting),
  ];
}

/** The sequential runs' chain time split by hop (p50 and p99 of per-request differences) as a Markdown table. */
export function formatHopTable(r: ScenarioResults): string {
  const header = [
    'body',
    'requests',
    'client',
    'gateway',
    'node',
    'client − gateway',
    'gateway − node',
    'node − direct p50',
  ];
  const lines: string[][] = [];
  for (const [label, c] of [
    ['1 KB', r.latency1kb],
    ['1 MB', r.latency1mb],
  ] as const) {
    const h = c?.hops;
    if (!h) continue;
    const cell = (x: { p50: number; p99: number }) => `${ms(x.p50)} / ${ms(x.p99)}`;
    lines.push([
      label,
      String(h.matched),
      cell(h.clientMs),
      cell(h.gatewayMs),
      cell(h.nodeMs),
      cell(h.outsideGatewayMs),
      cell(h.gatewayOwnMs),
      cell(h.nodeOverDirectMs),
    ]);
  }
  return [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}

/** The rows as a Markdown table. */
export function formatTable(rows: Row[]): string {
  const header = ['scenario', 'metric', 'direct', 'chain', 'chain − direct', 'target', 'result'];
  const lines = rows.map((r) => [
    r.scenario,
    r.metric,
    r.direct,
    r.chain,
    r.delta,
    r.target,
    r.pass === undefined ? '' : r.pass ? 'pass' : '**miss**',
  ]);
  const out = [header, header.map(() => '---'), ...lines].map((cells) => `| ${cells.join(' | ')} |`);
  return out.join('\n');
}

/** The machine and the code a run measured. */
export interface MachineInfo {
  cpuModel: string;
  cores: number;
  totalMemoryMb: number;
  os: string;
  node: string;
  redis: string;
  gitSha: string;
  /** Uncommitted changes in the tree when the run started. */
  gitDirty: boolean;
}

function git(root: string, args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

/** Reads the machine's description and the git state. */
export function machineInfo(root: string, redisVersion: string): MachineInfo {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cores: cpus.length,
    totalMemoryMb: Math.round(os.totalmem() / 2 ** 20),
    os: `${os.type()} ${os.release()}`,
    node: process.version,
    redis: redisVersion,
    gitSha: git(root, ['rev-parse', 'HEAD']) || 'unknown',
    gitDirty: git(root, ['status', '--porcelain', '--untracked-files=no']).length > 0,
  };
}

/**
 * Writes `<dir>/<timestamp>.json` and `<dir>/latest.json` (quick runs: `…-quick.json`, `latest-quick.json`;
 * runs of some scenarios only, `--only`: `…-only.json`, `latest-only.json`, so they never replace a whole run's).
 * @returns the two paths
 */
export function writeResults<T extends { startedAt: string; mode: 'full' | 'quick'; partial: boolean }>(
  dir: string,
  results: T,
): string[] {
  mkdirSync(dir, { recursive: true });
  const suffix = `${results.mode === 'quick' ? '-quick' : ''}${results.partial ? '-only' : ''}`;
  const stamp = results.startedAt.replace(/[:.]/g, '-');
  const paths = [join(dir, `${stamp}${suffix}.json`), join(dir, `latest${suffix}.json`)];
  const text = `${JSON.stringify(results, null, 2)}\n`;
  for (const p of paths) writeFileSync(p, text);
  return paths;
}
