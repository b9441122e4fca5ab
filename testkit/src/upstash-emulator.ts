// Starts @humanwhocodes/upstash-redis-server (the Upstash REST API in front of a real Redis) as a child
// process for tests. A child process because the package is ESM-only and jest runs tests as CommonJS.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { freePort } from './redis-server.js';

/** A running emulator: point createUpstashClient at url and token. */
export interface UpstashEmulator {
  /** Base URL of the REST API, e.g. http://127.0.0.1:54321. */
  url: string;
  /** The bearer token it expects. */
  token: string;
  /** Stops the emulator and waits for it to exit. */
  stop(): Promise<void>;
}

const BIN = join('node_modules', '@humanwhocodes', 'upstash-redis-server', 'dist', 'server.js');

function findBin(): string {
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    const candidate = join(dir, BIN);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`cannot find ${BIN} above ${process.cwd()}`);
  }
}

async function answersPing(url: string, token: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '["PING"]',
      signal: AbortSignal.timeout(1_000),
    });
    return res.ok && ((await res.json()) as { result?: unknown }).result === 'PONG';
  } catch {
    return false;
  }
}

/**
 * Starts the emulator on a free loopback port in front of `redisUrl` and resolves once it answers PING.
 * @example
 * const emu = await startUpstashEmulator({ redisUrl: testRedisUrl() });
 * const store = createUpstashStore(createUpstashClient(emu));
 * await emu.stop();
 */
export async function startUpstashEmulator(opts: { redisUrl: string; timeoutMs?: number }): Promise<UpstashEmulator> {
  const port = await freePort();
  const token = `emu-${randomBytes(12).toString('hex')}`;
  const url = `http://127.0.0.1:${port}`;
  // Only what the emulator reads: the test run's secrets stay out of the child.
  const child = spawn(process.execPath, [findBin()], {
    env: { URS_TOKEN: token, PORT: String(port), REDIS_URL: opts.redisUrl },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };

  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  while (!(await answersPing(url, token))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`upstash emulator did not answer on ${url}: ${stderr.trim() || 'no output'}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { url, token, stop };
}
