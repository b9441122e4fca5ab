// Throughput: N clients each sending back to back for a fixed time, in four phases (direct, chain,
// chain, direct) so a slow drift of the machine shows in both routes alike.
import { exchange, type Exchange, type Target } from '../client.js';
import type { BenchContext, Payload } from '../context.js';
import { cpuDelta, type CpuSnapshot } from '../proc-stats.js';
import { summarize, type Summary } from '../stats.js';

/** One route's totals over its phases. */
export interface Load {
  ok: number;
  errors: number;
  seconds: number;
  /** Whole, successful responses per second. */
  rps: number;
  latency: Summary;
  errorKinds: string[];
  /** CPU ms per successful response, per process, over this route's phases. */
  cpuMsPerResponse: Record<string, number>;
}

/** Direct vs chain throughput. */
export interface ThroughputResult {
  clients: number;
  direct: Load;
  chain: Load;
  /** chain rps as a percentage of direct rps. */
  chainPctOfDirect: number;
}

interface Phase {
  ok: number;
  failed: Exchange[];
  ms: number;
  latencies: number[];
  cpu: CpuSnapshot;
}

async function phase(
  ctx: BenchContext,
  target: Target,
  payload: Payload,
  clients: number,
  durationMs: number,
): Promise<Phase> {
  const result: Phase = { ok: 0, failed: [], ms: 0, latencies: [], cpu: {} };
  const cpuBefore = ctx.cpu();
  const started = performance.now();
  const until = started + durationMs;
  const client = async (): Promise<void> => {
    while (performance.now() < until) {
      const x = await exchange(target, payload.body, payload.headers);
      if (x.ok) {
        result.ok++;
        result.latencies.push(x.totalMs);
      } else result.failed.push(x);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  // Until the last response ended: requests started before the deadline count, and so does their time.
  result.ms = performance.now() - started;
  result.cpu = cpuDelta(cpuBefore, ctx.cpu());
  return result;
}

function total(phases: Phase[]): Load {
  const ok = phases.reduce((n, p) => n + p.ok, 0);
  const seconds = phases.reduce((n, p) => n + p.ms, 0) / 1_000;
  const failed = phases.flatMap((p) => p.failed);
  const cpu: Record<string, number> = {};
  for (const p of phases) for (const [name, used] of Object.entries(p.cpu)) cpu[name] = (cpu[name] ?? 0) + used;
  for (const name of Object.keys(cpu)) cpu[name] = Math.round(((cpu[name] ?? 0) / Math.max(1, ok)) * 1_000) / 1_000;
  return {
    ok,
    errors: failed.length,
    seconds: Math.round(seconds * 100) / 100,
    rps: Math.round(ok / seconds),
    latency: summarize(phases.flatMap((p) => p.latencies)),
    errorKinds: [...new Set(failed.map((x) => x.error ?? 'unknown'))].slice(0, 5),
    cpuMsPerResponse: cpu,
  };
}

/**
 * Runs the four phases with `clients` concurrent clients per route.
 * @example
 * const result = await throughput(ctx, ctx.small, 200, 5_000);
 */
export async function throughput(
  ctx: BenchContext,
  payload: Payload,
  clients: number,
  phaseMs: number,
): Promise<ThroughputResult> {
  const direct = ctx.target('direct', clients);
  const chain = ctx.target('chain', clients);
  // Warm both routes: open the sockets and let the JIT see the path.
  await phase(ctx, direct, payload, clients, Math.min(1_000, phaseMs / 2));
  await phase(ctx, chain, payload, clients, Math.min(1_000, phaseMs / 2));
  const phases = { direct: [] as Phase[], chain: [] as Phase[] };
  for (const t of [direct, chain, chain, direct]) {
    phases[t.route].push(await phase(ctx, t, payload, clients, phaseMs));
    ctx.log(`  ${payload.label} ${t.route}: ${phases[t.route].at(-1)?.ok ?? 0} responses`);
  }
  const d = total(phases.direct);
  const c = total(phases.chain);
  return { clients, direct: d, chain: c, chainPctOfDirect: Math.round((c.rps / d.rps) * 1_000) / 10 };
}
