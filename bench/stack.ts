// The system under test, started the way an operator runs it: Redis, the fake Anthropic upstream (its
// own process), one node-agent with an API-key account on the fake, the gateway and the usage worker,
// all from the build, on 127.0.0.1, LOG_LEVEL=info, under a private Redis prefix.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  deleteKeys,
  ensureTestRedis,
  freePort,
  startFakeAnthropicProcess,
  type FakeAnthropicProcess,
  type PlainTiming,
} from '@switchyard/testkit';
import { answers200, startReaper, startService, waitUntil, type Service } from './services.js';

/** Undo steps, run last-registered first; safe to run twice (from `finally` and from a signal). */
export interface Cleanup {
  add(label: string, step: () => Promise<void> | void): void;
  run(): Promise<void>;
}

/** Creates an empty cleanup list. */
export function createCleanup(log: (line: string) => void): Cleanup {
  const steps: { label: string; step: () => Promise<void> | void }[] = [];
  let running: Promise<void> | undefined;
  return {
    add: (label, step) => void steps.push({ label, step }),
    run() {
      running ??= (async () => {
        for (const { label, step } of steps.reverse()) {
          try {
            await step();
          } catch (err) {
            log(`cleanup: ${label} failed: ${err instanceof Error ? err.message : String(err)}`);
          }
        }
      })();
      return running;
    },
  };
}

/** Everything a scenario needs to reach and observe the running system. */
export interface Stack {
  root: string;
  redisUrl: string;
  prefix: string;
  redis: Redis;
  fake: FakeAnthropicProcess;
  fakeApiKey: string;
  gateway: Service;
  node: Service;
  worker: Service;
  gatewayUrl: string;
  gatewayKey: string;
  /** The Redis server's pid when it runs on this machine (for its CPU time). */
  redisPid: number | undefined;
  /** Every module the gateway process resolved (scripts/trace-modules.mjs). */
  gatewayModules(): string[];
}

/** Compiles the workspaces (tsc -b: a no-op when dist is current) so the processes run the code as it is now. */
export function build(root: string): void {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], {
    cwd: root,
    stdio: 'inherit',
  });
}

async function adminPost(gatewayUrl: string, adminToken: string, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${gatewayUrl}/admin${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`POST /admin${path}: ${res.status} ${await res.text()}`);
  return res.json();
}

async function nodeListed(gatewayUrl: string, adminToken: string, nodeId: string): Promise<boolean> {
  const res = await fetch(`${gatewayUrl}/admin/nodes`, { headers: { authorization: `Bearer ${adminToken}` } });
  const json = (await res.json()) as { nodes?: { nodeId: string; state: string }[] };
  return json.nodes?.some((n) => n.nodeId === nodeId && n.state === 'available') === true;
}

/**
 * Starts the whole stack; every part registers its own undo in `cleanup` as soon as it exists.
 * @example
 * const cleanup = createCleanup(console.error);
 * try { const stack = await startStack({ root, timing, gitSha, cleanup, log }); … } finally { await cleanup.run(); }
 */
export async function startStack(opts: {
  root: string;
  timing: Partial<PlainTiming>;
  gitSha: string;
  redisUrl?: string;
  keepLogs?: boolean;
  /** A directory for node --cpu-prof profiles of the gateway, node and worker (none: no profiler). */
  cpuProfDir?: string;
  cleanup: Cleanup;
  log: (line: string) => void;
}): Promise<Stack> {
  const { root, cleanup, log } = opts;
  // 1. A scratch dir for logs, the spool, the node's credential mirror and the module trace, and a
  //    watchdog that cleans up should the bench die without doing it itself.
  const dir = mkdtempSync(join(tmpdir(), 'sy-bench-'));
  if (opts.keepLogs) cleanup.add('temp dir', () => log(`logs kept in ${dir}`));
  else cleanup.add('temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const reaper = startReaper(root);
  if (!opts.keepLogs) reaper.watchDir(dir);
  cleanup.add('reaper', () => reaper.done());

  // 2. Redis: REDIS_URL, else the local one, else a throwaway redis-server; a private prefix, deleted at the end.
  const found = await ensureTestRedis(opts.redisUrl === undefined ? {} : { existingUrl: opts.redisUrl });
  if (found.started) cleanup.add('redis-server', () => found.started?.stop());
  const prefix = `sybench:${randomBytes(4).toString('hex')}:`;
  reaper.watchKeys(found.url, prefix);
  const redis = new Redis(found.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  cleanup.add('redis keys', async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  // 3. The fake upstream, one API-key account, bodies not recorded.
  const fake = await startFakeAnthropicProcess({
    cwd: root,
    options: { accounts: [{ id: 'key-1', kind: 'api_key' }], timing: opts.timing, recordBodies: false },
  });
  reaper.watch(fake.pid);
  cleanup.add('fake upstream', async () => {
    await fake.stop();
    reaper.unwatch(fake.pid);
  });
  const fakeApiKey = fake.accounts[0]?.apiKey;
  if (fakeApiKey === undefined) throw new Error('the fake started without an API key account');

  const adminToken = randomBytes(32).toString('hex');
  const common = { LOG_LEVEL: 'info', LOG_FORMAT: 'json', NODE_ENV: 'production', GIT_SHA: opts.gitSha };
  // Only the gateway side holds Redis credentials; the node dials in with its own token.
  const redisEnv = { REDIS_URL: found.url, REDIS_PREFIX: prefix };
  const services: Service[] = [];
  // Stopped together (SIGTERM lets the gateway flush its usage buffer), before the keys are deleted.
  cleanup.add('services', async () => void (await Promise.all(services.map((s) => s.stop()))));

  // 4. The gateway and the usage worker, then the node-agent enrolled through the admin API, all from dist
  //    (profiled when asked: written on their graceful exit).
  const prof = (name: string): string[] =>
    opts.cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(opts.cpuProfDir, name)}`];
  const gatewayPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  const traceFile = join(dir, 'gateway-modules.txt');
  const gateway = startService(
    'gateway',
    'gateway/dist/main.js',
    {
      ...common,
      ...redisEnv,
      HOST: '127.0.0.1',
      PORT: String(gatewayPort),
      GATEWAY_ID: 'bench-gateway',
      ADMIN_TOKEN: adminToken,
      DRAIN_TIMEOUT_MS: '2000',
      USAGE_SPOOL_DIR: join(dir, 'usage-spool'),
      NODE_OPTIONS: `--import=${join(root, 'scripts/trace-modules.mjs')}`,
      TRACE_MODULES_FILE: traceFile,
    },
    { cwd: root, logFile: join(dir, 'gateway.log'), reaper, nodeArgs: prof('gateway') },
  );
  services.push(gateway);
  const worker = startService(
    'usage-worker',
    'gateway/dist/usage-worker/main.js',
    { ...common, ...redisEnv, WORKER_CLOSE_TIMEOUT_MS: '3000', METRICS_PORT: '0' },
    { cwd: root, logFile: join(dir, 'worker.log'), reaper, nodeArgs: prof('worker') },
  );
  services.push(worker);

  // 5. Ready: the gateway answers, the node (enrolled, dialled in) is in its fleet, the worker has its tokenizer loaded.
  const t0 = performance.now();
  const since = () => `${Math.round(performance.now() - t0)} ms`;
  await waitUntil(gateway, 'health', () => answers200(`${gatewayUrl}/health`));
  log(`gateway answers (${since()})`);
  const enrolled = (await adminPost(gatewayUrl, adminToken, '/nodes', { id: 'bench-node' })) as { token: string };
  const nodePort = await freePort();
  const nodeUrl = `http://127.0.0.1:${nodePort}`;
  const node = startService(
    'node-agent',
    'node-agent/dist/main.js',
    {
      ...common,
      GATEWAY_URL: gatewayUrl,
      NODE_ID: 'bench-node',
      NODE_TOKEN: enrolled.token,
      HOST: '127.0.0.1',
      PORT: String(nodePort),
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_API_KEY: fakeApiKey,
      CREDENTIALS_DIR: join(dir, 'credentials'),
      DRAIN_TIMEOUT_MS: '2000',
    },
    { cwd: root, logFile: join(dir, 'node-agent.log'), reaper, nodeArgs: prof('node-agent') },
  );
  services.push(node);
  await waitUntil(node, 'health', () => answers200(`${nodeUrl}/health`));
  log(`node-agent answers (${since()})`);
  await waitUntil(gateway, 'the node in its fleet', () => nodeListed(gatewayUrl, adminToken, 'bench-node'));
  log(`gateway sees the node (${since()})`);
  await waitUntil(worker, "'worker ready'", () => worker.logTail(1_000_000).includes('worker ready'), 60_000);
  log(`worker ready (${since()})`);

  // 6. A gateway key without limits, made through the admin API.
  const created = (await adminPost(gatewayUrl, adminToken, '/keys', { name: 'bench' })) as { key: string };
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(found.url).hostname);
  const redisPid = local ? Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]) || undefined : undefined;
  log(
    `stack ready: gateway ${gatewayUrl}, node ${nodeUrl}, fake ${fake.url}, redis ${found.url} prefix ${prefix}, logs ${dir}`,
  );
  return {
    root,
    redisUrl: found.url,
    prefix,
    redis,
    fake,
    fakeApiKey,
    gateway,
    node,
    worker,
    gatewayUrl,
    gatewayKey: created.key,
    redisPid,
    gatewayModules: () =>
      readFileSync(traceFile, 'utf8')
        .split('\n')
        .filter((l) => l.length > 0),
  };
}
