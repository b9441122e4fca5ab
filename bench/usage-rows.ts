// The accounting scenarios' rows of the table (issue 15, "Accounting keeps up"): the soak, the worker's
// capacity and the huge run, with their targets marked pass or miss.
import { HUGE_JOB_CPU_TARGET_MS } from './options.js';
import type { Row } from './report.js';
import type { DrainPhase, DrainResult } from './scenarios/drain.js';
import type { HugeRunResult } from './scenarios/huge-run.js';
import type { SoakResult } from './scenarios/soak.js';

const seconds = (ms: number | null): string => (ms === null ? 'not within the wait' : `${(ms / 1_000).toFixed(1)} s`);
const row = (scenario: string, metric: string, chain: string, delta = '', target = '', pass?: boolean): Row => ({
  scenario,
  metric,
  direct: '',
  chain,
  delta,
  target,
  pass,
});

/** Soak: the load, the queue's depth, the backlog after it, exactness, CPU. */
export function soakRows(s: SoakResult | undefined): Row[] {
  if (!s) return [];
  const name = `soak, ${s.load.clients} clients, ${Math.round(s.load.wallMs / 1_000)} s`;
  const kinds = Object.entries(s.load.errorKinds)
    .map(([k, n]) => `${k} × ${n}`)
    .join(', ');
  return [
    row(
      name,
      'sent / answered / aborted / errors',
      `${s.load.sent} / ${s.load.answered} / ${s.load.aborted} / ${s.load.errors}`,
      `${s.load.rps} req/s${kinds === '' ? '' : `; ${kinds}`}`,
      'no errors',
      s.load.errors === 0,
    ),
    row(name, 'usage queue waiting + active: max / at end of load', `${s.depth.max} / ${s.depth.atEndOfLoad}`),
    row(
      name,
      'backlog gone after the load ended',
      seconds(s.backlogGoneMs),
      '',
      '≤ 30 s',
      s.backlogGoneMs !== null && s.backlogGoneMs <= 30_000,
    ),
    row(
      name,
      'usage:total growth / requests sent',
      `${s.counted} / ${s.load.sent}`,
      s.priorSettled ? '' : 'earlier backlog not settled',
      'every request counted exactly once',
      s.countedExactly,
    ),
    row(
      name,
      'worker CPU ms (jobs per worker CPU-s)',
      String(s.worker.cpuMs),
      `${s.worker.jobsPerCpuSecond} jobs/CPU-s`,
    ),
    row(
      name,
      'gateway CPU ms (per request)',
      String(s.gateway.cpuMs),
      `${s.gateway.cpuMsPerRequest.toFixed(3)} ms/request`,
    ),
  ];
}

function drainPhaseRows(p: DrainPhase): Row[] {
  const name = `worker capacity, ${p.label}`;
  return [
    row(name, 'backlog drained (jobs in time)', `${p.enqueued} in ${seconds(p.drainMs)}`, `${p.jobsPerSecond} jobs/s`),
    row(
      name,
      'worker CPU ms (jobs per worker CPU-s)',
      String(p.workerCpuMs),
      `${p.jobsPerWorkerCpuSecond} jobs/CPU-s (capacity per core)`,
    ),
    row(
      name,
      'Redis CPU ms over the drain (used memory with the backlog)',
      p.redisCpuMs === null ? 'n/a' : String(p.redisCpuMs),
      p.redisUsedMb === null ? '' : `${p.redisUsedMb} MB`,
    ),
    row(
      name,
      'usage:total growth / requests sent',
      `${p.counted} / ${p.load.sent}`,
      p.load.errors === 0 ? '' : `${p.load.errors} request errors`,
      'every request counted exactly once',
      p.countedExactly,
    ),
  ];
}

/** Worker capacity: both drains. */
export function drainRows(d: DrainResult | undefined): Row[] {
  if (!d) return [];
  return [...drainPhaseRows(d.small), ...drainPhaseRows(d.long)];
}

/** One huge run and the ordinary requests behind it. */
export function hugeRunRows(h: HugeRunResult | undefined): Row[] {
  if (!h) return [];
  const name = `one ${h.runChars.toLocaleString('en-US')}-character run`;
  const counted = h.counted ? `counted after ${seconds(h.countedAfterMs)}` : 'not counted';
  return [
    row(
      name,
      'status, counted',
      `${h.status}, ${counted}`,
      `estimateApproximate ${String(h.estimateApproximate)}`,
      'answered and counted',
      h.answered && h.counted,
    ),
    row(
      name,
      'worker CPU ms until counted',
      `${h.workerCpuMs}${h.counted ? '' : '+'}`,
      '',
      `≤ ${HUGE_JOB_CPU_TARGET_MS} ms`,
      h.counted && h.workerCpuMs <= HUGE_JOB_CPU_TARGET_MS,
    ),
    row(
      name,
      `ordinary requests after it counted`,
      `${h.ordinary.counted} / ${h.ordinary.sent}`,
      h.ordinary.lastCountedAfterMs === null
        ? 'not all within the wait'
        : `last ${seconds(h.ordinary.lastCountedAfterMs)} after the last was answered`,
    ),
  ];
}
