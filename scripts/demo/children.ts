// The demo's child processes: each in its own process group (so a terminal's Ctrl-C reaches only the
// demo, which stops them in order), its output appended to a log file and, with --verbose, echoed
// with a name prefix; the last lines kept for the report when one dies.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { baseChildEnv } from '@switchyard/testkit';

/** How a child ended. */
export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A started child process. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  readonly logFile: string;
  running(): boolean;
  /** The last `count` lines it wrote. */
  tail(count?: number): string[];
  /** Resolves once it wrote a line matching `pattern` (at once if one of its last lines does). */
  lineSeen(pattern: RegExp): Promise<void>;
  readonly exited: Promise<ChildExit>;
  /** SIGTERM, then SIGKILL to its whole process group after `graceMs`; resolves once it exited. */
  stop(graceMs: number): Promise<void>;
}

/** What to start. */
export interface ChildSpec {
  name: string;
  command: string;
  args: string[];
  /** The child's whole environment besides PATH and HOME. */
  env?: Record<string, string>;
}

export interface ChildrenOptions {
  cwd: string;
  logDir: string;
  verbose: boolean;
  /** Called once for a child that exits on its own (not through stop()). */
  onUnexpectedExit(child: Child, exit: ChildExit): void;
  /** Called with each new pid (for the watchdog and the pid file). */
  onStart(child: Child): void;
}

export interface Children {
  start(spec: ChildSpec): Child;
  all(): Child[];
  /** SIGKILL every child's process group at once (a second Ctrl-C, or a hung shutdown). */
  killAll(): void;
}

const TAIL_LINES = 40;
// Colour codes of the pretty log format: kept on a terminal, not in files or captured output.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;

/** A node command line that runs a TypeScript entry from source, the way the test harness does. */
export function tsEntry(entry: string, args: string[] = []): { command: string; args: string[] } {
  return { command: process.execPath, args: ['--conditions=source', '--import', 'tsx', entry, ...args] };
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * @example
 * const children = createChildren({ cwd: root, logDir, verbose: false, onStart, onUnexpectedExit });
 * const gateway = children.start({ name: 'gateway', ...tsEntry('gateway/src/main.ts'), env });
 */
export function createChildren(opts: ChildrenOptions): Children {
  const started: Child[] = [];
  const width = 16;

  function start(spec: ChildSpec): Child {
    const logFile = join(opts.logDir, `${spec.name.replace(/[^A-Za-z0-9_.-]+/g, '-')}.log`);
    const log = createWriteStream(logFile, { flags: 'a' });
    const proc = spawn(spec.command, spec.args, {
      cwd: opts.cwd,
      env: { ...baseChildEnv(), ...spec.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const lines: string[] = [];
    const waiters: { pattern: RegExp; resolve(): void }[] = [];
    const onLine = (raw: string) => {
      const line = raw.replace(ANSI, '');
      log.write(`${line}\n`);
      lines.push(line);
      if (lines.length > TAIL_LINES) lines.shift();
      for (const w of waiters.filter((w) => w.pattern.test(line))) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      if (opts.verbose) process.stdout.write(`${spec.name.padEnd(width)}| ${process.stdout.isTTY ? raw : line}\n`);
    };
    for (const stream of [proc.stdout, proc.stderr]) if (stream) createInterface({ input: stream }).on('line', onLine);
    let stopping = false;
    const running = () => proc.exitCode === null && proc.signalCode === null;
    const exited = new Promise<ChildExit>((resolve) => {
      proc.once('exit', (code, signal) => resolve({ code, signal }));
      // A command that could not be spawned at all (ENOENT) reports 'error' and never 'exit'.
      proc.once('error', (err) => {
        onLine(`could not start ${spec.command}: ${err.message}`);
        resolve({ code: null, signal: null });
      });
    });
    const child: Child = {
      name: spec.name,
      pid: proc.pid ?? -1,
      proc,
      logFile,
      running,
      tail: (count = 15) => lines.slice(-count),
      lineSeen: (pattern) =>
        lines.some((l) => pattern.test(l))
          ? Promise.resolve()
          : new Promise<void>((resolve) => void waiters.push({ pattern, resolve })),
      exited,
      async stop(graceMs) {
        stopping = true;
        if (running()) proc.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const hung = new Promise<'hung'>((resolve) => (timer = setTimeout(() => resolve('hung'), graceMs)));
        if ((await Promise.race([exited, hung])) === 'hung') {
          onLine(`demo: still running ${graceMs} ms after SIGTERM; killing its process group`);
          killGroup(child.pid, 'SIGKILL');
          await exited;
        }
        clearTimeout(timer);
        // Anything it left behind in its group goes too.
        killGroup(child.pid, 'SIGKILL');
      },
    };
    void exited.then((exit) => {
      log.end();
      if (!stopping) opts.onUnexpectedExit(child, exit);
    });
    started.push(child);
    if (child.pid > 0) opts.onStart(child);
    return child;
  }

  return {
    start,
    all: () => [...started],
    killAll: () => {
      for (const child of started) killGroup(child.pid, 'SIGKILL');
    },
  };
}
