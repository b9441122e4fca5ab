// A watchdog in its own process (reaper.mjs) that stops a stack's processes, deletes its keys and its scratch
// directory should the demo or the bench die without doing it (SIGKILL, a crash).
import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** Kills the processes it was told about should its parent die without cleaning up. */
export interface Reaper {
  /** The watchdog's own pid (it exits by itself once told `done`). */
  readonly pid: number;
  watch(pid: number): void;
  unwatch(pid: number): void;
  /** Keys under `prefix` are deleted too should the parent die. */
  watchKeys(redisUrl: string, prefix: string): void;
  /** And this directory removed. */
  watchDir(path: string): void;
  /** The parent cleaned up: the reaper exits without killing anything. */
  done(): void;
}

/**
 * Starts the watchdog in its own process group (a Ctrl-C reaches the parent, which cleans up itself). `root` is
 * the repository root.
 * @example
 * const reaper = startReaper(root); reaper.watch(child.pid); … ; reaper.done();
 */
export function startReaper(root: string): Reaper {
  const child = spawn(process.execPath, [join(root, 'testkit/src/stack/reaper.mjs')], {
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
