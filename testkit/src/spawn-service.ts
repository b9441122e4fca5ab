import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { baseChildEnv } from './config.js';

/** A service process started by a test, exactly as an operator would start it, but from TypeScript source through tsx. */
export interface SpawnedService {
  readonly proc: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  /** Resolves when the output matches, rejects on exit or after timeoutMs (with the output in the message). */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILL if still running (for cleanup). */
  kill(): void;
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
  const cwd = opts.cwd ?? process.cwd();
  const isTs = entry.endsWith('.ts');
  const args = isTs
    ? ['--conditions=source', '--import', 'tsx', resolve(cwd, entry), ...(opts.args ?? [])]
    : [resolve(cwd, entry), ...(opts.args ?? [])];
  const proc = spawn(process.execPath, args, {
    cwd,
    env: { ...baseChildEnv(), ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (chunk: Buffer) => {
    out += chunk.toString('utf8');
    for (const l of listeners) l();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    proc.once('exit', (code, signal) => done({ code, signal })),
  );
  return {
    proc,
    output: () => out,
    waitForOutput(pattern, timeoutMs = 20_000) {
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
    kill: () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    },
  };
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
