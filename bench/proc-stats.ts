// What the bench reads about a running process from /proc (Linux): resident memory and open sockets.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/**
 * Resident set size of `pid` in MB (VmRSS from /proc/<pid>/status).
 * @example
 * const mb = rssMb(gateway.pid);
 */
export function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match?.[1]) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) / 1024;
}

/**
 * How many of `pid`'s file descriptors are sockets (`socket:[…]` links in /proc/<pid>/fd): listeners,
 * client and upstream connections, Redis connections.
 */
export function socketCount(pid: number): number {
  let sockets = 0;
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) sockets++;
    } catch {
      // The descriptor closed between the listing and the readlink.
    }
  }
  return sockets;
}

// Linux reports utime and stime in clock ticks; USER_HZ is 100 on every mainstream architecture.
const TICK_MS = 10;

/**
 * CPU time `pid` has used so far (user + system), in ms, from /proc/<pid>/stat.
 * @example
 * const before = cpuMs(pid); … ; const used = cpuMs(pid) - before;
 */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_MS;
}

/** CPU ms per named process; the bench's own process is `bench`. */
export type CpuSnapshot = Record<string, number>;

/**
 * CPU used so far by each process in `pids` and by this process.
 * @example
 * const a = cpuSnapshot({ gateway: 123 }); … ; const used = cpuDelta(a, cpuSnapshot({ gateway: 123 }));
 */
export function cpuSnapshot(pids: Record<string, number | undefined>): CpuSnapshot {
  const own = process.cpuUsage();
  const snapshot: CpuSnapshot = { bench: (own.user + own.system) / 1_000 };
  for (const [name, pid] of Object.entries(pids)) {
    if (pid === undefined) continue;
    try {
      snapshot[name] = cpuMs(pid);
    } catch {
      // A process that is gone has no more CPU to report.
    }
  }
  return snapshot;
}

/** later − earlier, per process, rounded to whole ms. */
export function cpuDelta(earlier: CpuSnapshot, later: CpuSnapshot): CpuSnapshot {
  const out: CpuSnapshot = {};
  for (const [name, value] of Object.entries(later)) out[name] = Math.round(value - (earlier[name] ?? 0));
  return out;
}

/**
 * CPU time the whole machine has spent busy so far (all cores; idle and iowait excluded), in ms, from
 * /proc/stat. Compared with the bench's own processes it shows how much else ran during a scenario.
 */
export function machineBusyMs(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) * TICK_MS;
}
