// Child processes of the bench: started from the build, their output going to a log file (as under a
// process manager) so a busy bench never back-pressures their stdout, stopped with SIGTERM then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseChildEnv } from '@switchyard/testkit';

/** Kills the bench's processes should the bench itself die without cleaning up (bench/reaper.mjs). */
export interface Reaper {
  /** The watchdog's own pid (it exits by itself once told `done`). */
  readonly pid: number;
  watch(pid: number): void;
  unwatch(pid: number): void;
  /** Keys under `prefix` are deleted too should the bench die. */
  watchKeys(redisUrl: string, prefix: string): void;
  /** And this directory removed. */
  watchDir(path: string): void;
  /** The bench cleaned up: the reaper exits without killing anything. */
  done(): void;
}

/**
 * Starts the watchdog in its own process group (a Ctrl-C reaches the bench, which cleans up itself).
 * @example
 * const reaper = startReaper(root); reaper.watch(child.pid); … ; reaper.done();
 */
export function startReaper(root: string): Reaper {
  const child = spawn(process.execPath, [join(root, 'bench/reaper.mjs')], {
    stdio: ['pipe', 'ignore', 'ignore'],
    detached: true,
  });
  child.unref();
  const stdin = child.stdin;
  stdin?.on('error', () => undefined);
  const send = (line: string) => void stdin?.write(`${line}\n`);
  return {
    pid: child.pid ?? -1,
    watch: (pid) => send(`+${pid}`),
    unwatch: (pid) => send(`-${pid}`),
    watchKeys: (redisUrl, prefix) => send(`keys ${redisUrl} ${prefix}`),
    watchDir: (path) => send(`dir ${path}`),
    done: () => {
      send('done');
      stdin?.end();
    },
  };
}

/** A started process. */
export interface Service {
  readonly name: string;
  readonly pid: number;
  readonly proc: ChildProcess;
  readonly logFile: string;
  /** The last `chars` of its log. */
  logTail(chars?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once it exited. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Runs `node <entry>` with exactly `env` (plus PATH and HOME), stdout and stderr appended to `logFile`.
 * @example
 * const gateway = startService('gateway', 'gateway/dist/main.js', env, { cwd: root, logFile: join(dir, 'gateway.log'), reaper });
 */
export function startService(
  name: string,
  entry: string,
  env: Record<string, string>,
  opts: { cwd: string; logFile: string; reaper: Reaper; nodeArgs?: string[] },
): Service {
  const fd = openSync(opts.logFile, 'a');
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), entry], {
    cwd: opts.cwd,
    env: { ...baseChildEnv(), ...env },
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  if (proc.pid !== undefined) opts.reaper.watch(proc.pid);
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', () => {
      if (proc.pid !== undefined) opts.reaper.unwatch(proc.pid);
      resolve();
    }),
  );
  const running = () => proc.exitCode === null && proc.signalCode === null;
  const logTail = (chars = 2_000): string => {
    try {
      return readFileSync(opts.logFile, 'utf8').slice(-chars);
    } catch {
      return '';
    }
  };
  return {
    name,
    pid: proc.pid ?? -1,
    proc,
    logFile: opts.logFile,
    logTail,
    async stop(graceMs = 5_000) {
      if (!running()) return;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => running() && proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Polls `check` every 50 ms until it returns true; fails with the service's log tail when the service
 * exits first or `timeoutMs` passes.
 */
export async function waitUntil(
  service: Service,
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve(check()).catch(() => false)) return;
    if (service.proc.exitCode !== null || service.proc.signalCode !== null) {
      throw new Error(
        `${service.name} exited (${service.proc.exitCode ?? service.proc.signalCode}) before ${what}:\n${service.logTail()}`,
      );
    }
    if (Date.now() > deadline)
      throw new Error(`${service.name}: no ${what} within ${timeoutMs} ms:\n${service.logTail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** True when GET `url` answers 200. */
export async function answers200(url: string): Promise<boolean> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status === 200;
}
