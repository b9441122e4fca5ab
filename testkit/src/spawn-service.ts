// The one way tests, the demo and the bench start a process: its output kept (in memory, in a log file, echoed
// with its name), waited on by pattern, and stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, openSync, readFileSync, type WriteStream } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { baseChildEnv } from './config.js';
import { waitFor } from './wait-for.js';

/** How a process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What to start and where its output goes. */
export interface ProcessSpec {
  /** Names it in logs, errors and its log file (default: the entry or command). */
  name?: string;
  /** A node entry from `cwd`: a .ts file runs from source through tsx, a .js file as it is. */
  entry?: string;
  /** Or any other command (redis-server). */
  command?: string;
  args?: string[];
  /** Node's own flags before the entry (--cpu-prof). */
  nodeArgs?: string[];
  /** The process's environment besides PATH and HOME: nothing of the caller's leaks into it. */
  env?: Record<string, string>;
  /** Default: this process's working directory (the repository root). */
  cwd?: string;
  /** Appends the output (colour codes removed) to this file. */
  logFile?: string;
  /**
   * The output goes straight to `logFile` (no pipe through this process, so a busy caller never slows the child
   * down); output() and tail() read the file.
   */
  direct?: boolean;
  /** Echoes each line on this process's stdout, prefixed with the name. */
  echo?: boolean;
  /** Its own process group: a terminal's Ctrl-C reaches only the caller, and stop() ends the whole group. */
  group?: boolean;
  /** Keeps only the last this many characters of output in memory (default: all of it). */
  keepChars?: number;
  /** Called once when it exits; `stopped` tells whether stop() or kill() ended it. */
  onExit?(exit: ProcessExit, stopped: boolean): void;
}

/** A started process. */
export interface SpawnedService {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  readonly logFile: string | undefined;
  running(): boolean;
  /** Everything it wrote to stdout and stderr so far (or the last `keepChars` of it). */
  output(): string;
  /** Its last `count` lines. */
  tail(count?: number): string[];
  /** Resolves once the output matches; rejects when the process exits first or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited(): Promise<ProcessExit>;
  /** SIGTERM, then SIGKILL (to its group, if it has one) after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL if still running (for cleanup). */
  kill(): void;
}

// Colour codes of the pretty log format: echoed on a terminal, never kept.
// eslint-disable-next-line no-control-regex
const ANSI = /\x1b\[[0-9;]*m/g;
const NAME_WIDTH = 16;

function commandLine(spec: ProcessSpec, cwd: string): { command: string; args: string[] } {
  const args = spec.args ?? [];
  if (spec.entry === undefined) {
    if (spec.command === undefined) throw new Error('a process needs an entry or a command');
    return { command: spec.command, args };
  }
  const entry = resolve(cwd, spec.entry);
  const source = spec.entry.endsWith('.ts') ? ['--conditions=source', '--import', 'tsx'] : [];
  return { command: process.execPath, args: [...(spec.nodeArgs ?? []), ...source, entry, ...args] };
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Starts a process as an operator would, but with only the environment given.
 * @example
 * const gateway = startProcess({ name: 'gateway', entry: 'gateway/src/main.ts', env, logFile: join(dir, 'gateway.log') });
 * await gateway.waitForOutput(/gateway started/);
 * await gateway.stop(5_000);
 */
export function startProcess(spec: ProcessSpec): SpawnedService {
  const cwd = spec.cwd ?? process.cwd();
  const { command, args } = commandLine(spec, cwd);
  const name = spec.name ?? spec.entry ?? command;
  const direct = spec.direct === true && spec.logFile !== undefined;
  const fd = direct ? openSync(spec.logFile as string, 'a') : undefined;
  const proc = spawn(command, args, {
    cwd,
    env: { ...baseChildEnv(), ...spec.env },
    stdio: fd === undefined ? ['pipe', 'pipe', 'pipe'] : ['ignore', fd, fd],
    detached: spec.group === true,
  });
  if (fd !== undefined) closeSync(fd);

  let out = '';
  const listeners = new Set<() => void>();
  const file: WriteStream | undefined =
    spec.logFile === undefined || direct ? undefined : createWriteStream(spec.logFile, { flags: 'a' });
  const onLine = (raw: string) => {
    const line = raw.replace(ANSI, '');
    out += `${line}\n`;
    if (spec.keepChars !== undefined && out.length > 2 * spec.keepChars) out = out.slice(-spec.keepChars);
    file?.write(`${line}\n`);
    if (spec.echo) process.stdout.write(`${name.padEnd(NAME_WIDTH)}| ${process.stdout.isTTY ? raw : line}\n`);
    for (const l of listeners) l();
  };
  for (const stream of [proc.stdout, proc.stderr]) if (stream) createInterface({ input: stream }).on('line', onLine);
  const output = (): string => {
    if (!direct) return spec.keepChars === undefined ? out : out.slice(-spec.keepChars);
    try {
      return readFileSync(spec.logFile as string, 'utf8');
    } catch {
      return '';
    }
  };

  let stopped = false;
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const exit = new Promise<ProcessExit>((done) => {
    proc.once('exit', (code, signal) => done({ code, signal }));
    // A command that could not be spawned at all (ENOENT) reports 'error' and never 'exit'.
    proc.once('error', (err) => {
      onLine(`could not start ${command}: ${err.message}`);
      done({ code: null, signal: null });
    });
  });
  void exit.then((e) => {
    file?.end();
    spec.onExit?.(e, stopped);
  });
  const pid = proc.pid ?? -1;
  const kill = () => {
    stopped = true;
    if (spec.group && pid > 0) signalGroup(pid, 'SIGKILL');
    else if (running()) proc.kill('SIGKILL');
  };

  return {
    name,
    pid,
    proc,
    logFile: spec.logFile,
    running,
    output,
    tail: (count = 15) => output().trimEnd().split('\n').slice(-count),
    waitForOutput(pattern, timeoutMs = 20_000) {
      const stopIf = () => (pattern.test(output()) || running() ? undefined : 'the process exited');
      if (direct) {
        return waitFor(`${String(pattern)} in ${name}'s output`, () => pattern.test(output()), {
          timeoutMs,
          intervalMs: 50,
          stopIf,
          detail: () => `output so far:\n${output().slice(-4_000)}`,
        }).then(() => undefined);
      }
      return new Promise((resolveWait, reject) => {
        const check = () => {
          if (!pattern.test(out)) return;
          cleanup();
          resolveWait();
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`timed out waiting for ${String(pattern)}; output so far:\n${out}`));
        }, timeoutMs);
        const onExit = () => {
          cleanup();
          reject(new Error(`process exited while waiting for ${String(pattern)}; output:\n${out}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          listeners.delete(check);
          proc.off('exit', onExit);
        };
        listeners.add(check);
        proc.once('exit', onExit);
        check();
      });
    },
    exited: () => exit,
    async stop(graceMs = 5_000) {
      stopped = true;
      if (running()) proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      const hung = new Promise<'hung'>((done) => (timer = setTimeout(() => done('hung'), graceMs)));
      if ((await Promise.race([exit, hung])) === 'hung') {
        onLine(`still running ${graceMs} ms after SIGTERM: killed`);
        kill();
        await exit;
      }
      clearTimeout(timer);
      // Anything it left behind in its group goes too.
      if (spec.group && pid > 0) signalGroup(pid, 'SIGKILL');
    },
    kill,
  };
}

/**
 * Starts `entry` (a .ts path from the repo root, or a built .js) with the given environment only
 * (plus PATH and HOME), so tests never leak the developer's variables into the service.
 */
export function spawnService(
  entry: string,
  env: Record<string, string>,
  opts: { args?: string[]; cwd?: string } = {},
): SpawnedService {
  return startProcess({ entry, env, ...opts });
}

/** Whether a process with this pid exists (signal 0 checks without sending anything). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
