// Which Redis the demo uses: REDIS_URL if set (it must answer), else a local one if it answers, else a
// throwaway redis-server from PATH (no persistence, stopped with the demo), else one line on what to install.
import { spawnSync } from 'node:child_process';
import { Redis } from 'ioredis';
import { redactedUrl } from '@switchyard/shared';
import { freePort, redisAnswers, waitFor, type ProcessSpec, type SpawnedService } from '@switchyard/testkit';
import { DemoError } from './demo-error.js';

/** Starts one of the demo's processes (its log file, its process group, its pid recorded). */
export type StartProcess = (spec: ProcessSpec & { name: string }) => SpawnedService;

/** The one line printed when there is no Redis at all. */
export const NO_REDIS_LINE =
  'switchyard demo: no Redis found (REDIS_URL is not set, nothing answers on {local}, and there is no redis-server on PATH): ' +
  'install one (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or start one with `docker run -d -p 127.0.0.1:6379:6379 redis:7-alpine`, then run npm run demo again.';

export interface ChosenRedis {
  url: string;
  /** How it was found, for the startup line. */
  how: string;
  /** A connected client (the demo clears its prefix with it). */
  client: Redis;
  /** The redis-server the demo started, if it did. */
  server?: SpawnedService;
}

async function connect(url: string): Promise<Redis | undefined> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.ping();
    return client;
  } catch {
    client.disconnect();
    return undefined;
  }
}

async function startServer(start: StartProcess, dataDir: string): Promise<ChosenRedis | undefined> {
  if (spawnSync('redis-server', ['--version']).error) return undefined;
  const port = await freePort();
  const server = start({
    name: 'redis-server',
    command: 'redis-server',
    args: ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dataDir],
  });
  const url = `redis://127.0.0.1:${port}`;
  const client = await waitFor(
    `redis-server on 127.0.0.1:${port}`,
    async () => ((await redisAnswers('127.0.0.1', port)) ? await connect(url) : undefined),
    { timeoutMs: 10_000, intervalMs: 25, stopIf: () => (server.running() ? undefined : 'it exited') },
  ).catch(() => {
    throw new DemoError(
      `switchyard demo: redis-server did not start on 127.0.0.1:${port}: ${server.tail(3).join(' / ') || 'no output'}`,
    );
  });
  return { url, how: `started redis-server on port ${port} (stopped with the demo)`, client, server };
}

/**
 * @example
 * const redis = await chooseRedis({ redisUrl: env.REDIS_URL, local: { host: '127.0.0.1', port: 6379 }, start, dataDir });
 */
export async function chooseRedis(opts: {
  redisUrl?: string;
  local: { host: string; port: number };
  start: StartProcess;
  dataDir: string;
}): Promise<ChosenRedis> {
  if (opts.redisUrl !== undefined) {
    const client = await connect(opts.redisUrl);
    if (client) return { url: opts.redisUrl, how: `REDIS_URL ${redactedUrl(opts.redisUrl)}`, client };
    throw new DemoError(
      `switchyard demo: REDIS_URL=${redactedUrl(opts.redisUrl)} does not answer: start that Redis, or unset REDIS_URL to use ${opts.local.host}:${opts.local.port} or a redis-server from PATH.`,
    );
  }
  const local = `redis://${opts.local.host}:${opts.local.port}`;
  if (await redisAnswers(opts.local.host, opts.local.port)) {
    const client = await connect(local);
    if (client) return { url: local, how: `the local Redis at ${opts.local.host}:${opts.local.port}`, client };
  }
  const started = await startServer(opts.start, opts.dataDir);
  if (started) return started;
  throw new DemoError(NO_REDIS_LINE.replace('{local}', `${opts.local.host}:${opts.local.port}`));
}
