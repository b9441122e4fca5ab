import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A throwaway redis-server started by a test (or by the test run's global setup). */
export interface RedisServerHandle {
  url: string;
  port: number;
  /** Stops the server (SIGTERM) and waits for it to exit; the port can then be reused by a new server. */
  stop(): Promise<void>;
}

/** The one line a test run prints when it has no Redis at all. */
export const NO_REDIS_MESSAGE =
  'No Redis for the tests: set REDIS_URL, start one on 127.0.0.1:6379, or install redis-server (Debian: apt-get install -y redis-server).';

/** Whether something answers PING with PONG at host:port. */
export function redisAnswers(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('error', () => done(false));
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (d: Buffer) => done(d.toString().startsWith('+PONG')));
  });
}

// Below Linux's ephemeral range (32768–60999 by default). A port the kernel picked for port 0 is one it may hand to
// any outgoing connection as soon as it is closed again: a child process started on it a moment later then met
// EADDRINUSE once in a full-suite run. Ports from here are never handed out by the kernel on its own.
const FIRST_PORT = 20_000;
const LAST_PORT = 32_767;
const handedOut = new Set<number>();

function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * A TCP port on 127.0.0.1 that nothing listens on right now, for a process a test starts: chosen at random below the
 * kernel's ephemeral range (so no outgoing connection takes it before the process binds it), never the same twice in
 * one test process.
 */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 200; tries++) {
    const port = FIRST_PORT + Math.floor(Math.random() * (LAST_PORT - FIRST_PORT + 1));
    if (handedOut.has(port) || !(await bindable(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${FIRST_PORT} and ${LAST_PORT} after 200 tries`);
}

function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/**
 * Starts `redis-server` from PATH (no persistence) on the given or a free port and waits until it answers.
 * Throws {@link NO_REDIS_MESSAGE} when there is no redis-server binary.
 */
export async function startRedisServer(
  opts: { port?: number; bin?: string; dataDir?: string } = {},
): Promise<RedisServerHandle> {
  const bin = opts.bin ?? 'redis-server';
  if (spawnSync(bin, ['--version']).error) throw new Error(NO_REDIS_MESSAGE);
  const port = opts.port ?? (await freePort());
  // With a dataDir the server keeps an append-only file there (as production Redis does), so a
  // restart on the same dir is an outage, not data loss; the caller owns and removes the dir.
  const dir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'sy-redis-'));
  const persistence = opts.dataDir ? ['--appendonly', 'yes'] : ['--appendonly', 'no'];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', ...persistence, '--dir', dir];
  const child = spawn(bin, args, { stdio: 'ignore' });
  const stop = async () => {
    child.kill('SIGTERM');
    await exited(child);
    if (!opts.dataDir) rmSync(dir, { recursive: true, force: true });
  };
  for (let i = 0; i < 200; i++) {
    if (await redisAnswers('127.0.0.1', port)) return { url: `redis://127.0.0.1:${port}`, port, stop };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 25));
  }
  await stop();
  throw new Error(`redis-server did not answer on 127.0.0.1:${port}`);
}

/**
 * The test run's Redis: `existingUrl` if given, else the probe address if a Redis answers there,
 * else a fresh redis-server (returned so the caller can stop it).
 */
export async function ensureTestRedis(opts: {
  existingUrl?: string;
  probe?: { host: string; port: number };
  bin?: string;
}): Promise<{ url: string; started?: RedisServerHandle }> {
  if (opts.existingUrl) return { url: opts.existingUrl };
  const probe = opts.probe ?? { host: '127.0.0.1', port: 6379 };
  if (await redisAnswers(probe.host, probe.port)) return { url: `redis://${probe.host}:${probe.port}` };
  const started = await startRedisServer(opts.bin === undefined ? {} : { bin: opts.bin });
  return { url: started.url, started };
}
