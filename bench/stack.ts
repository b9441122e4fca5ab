// The system under test, started the way an operator runs it by testkit's stack launcher: Redis, the fake
// Anthropic upstream (its own process), one node-agent with an API-key account on the fake, the gateway and the
// usage worker, all from the build, on 127.0.0.1, LOG_LEVEL=info, under a private Redis prefix.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import {
  ensureTestRedis,
  startOtlpReceiver,
  startReaper,
  startStack,
  type FakeAnthropicProcess,
  type PlainTiming,
  type SpawnedService,
  type Stack,
} from '@switchyard/testkit';

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

/** Each process's profile directory (by its name in the stack). */
const PROFILE_DIRS: Record<string, string> = {
  gateway: 'gateway',
  'usage-worker': 'worker',
  'node bench-node': 'node-agent',
};

/** A process of the stack, writing to its own log file (the scenarios read the access lines there). */
export type LoggedService = SpawnedService & { readonly logFile: string };

function logged(svc: SpawnedService | undefined, what: string): LoggedService {
  if (svc?.logFile === undefined) throw new Error(`the stack started without ${what} or its log file`);
  return svc as LoggedService;
}

/** Everything a scenario needs to reach and observe the running system. */
export interface BenchStack {
  root: string;
  redisUrl: string;
  prefix: string;
  redis: Redis;
  fake: FakeAnthropicProcess;
  fakeApiKey: string;
  gateway: LoggedService;
  node: LoggedService;
  worker: LoggedService;
  gatewayUrl: string;
  gatewayKey: string;
  /** The Redis server's pid when it runs on this machine (for its CPU time). */
  redisPid: number | undefined;
  /** Every module the gateway process resolved (scripts/trace-modules.mjs). */
  gatewayModules(): string[];
  /** The processes run with tracing on (--otel). */
  tracing: boolean;
}

/** Compiles the workspaces (tsc -b: a no-op when dist is current) so the processes run the code as it is now. */
export function build(root: string): void {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b'], {
    cwd: root,
    stdio: 'inherit',
  });
}

/**
 * Starts the whole stack; every part is undone by `cleanup`, also when the start fails or is interrupted.
 * @example
 * const cleanup = createCleanup(console.error);
 * try { const stack = await startBenchStack({ root, timing, gitSha, cleanup, log }); … } finally { await cleanup.run(); }
 */
export async function startBenchStack(opts: {
  root: string;
  timing: Partial<PlainTiming>;
  gitSha: string;
  redisUrl?: string;
  keepLogs?: boolean;
  /** A directory for node --cpu-prof profiles of the gateway, node and worker (none: no profiler). */
  cpuProfDir?: string;
  /** Tracing on in every process, to an OTLP receiver started here (its spans are counted, then dropped). */
  otel?: boolean;
  cleanup: Cleanup;
  log: (line: string) => void;
}): Promise<BenchStack> {
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
  cleanup.add('redis client', () => redis.disconnect());

  // 3. The stack from dist (profiled when asked: written on their graceful exit), each process logging to its file
  //    only, so a busy bench never back-pressures their output: the fake in its own process with one API-key
  //    account, the gateway and the usage worker, then the node enrolled through the admin API. Ready once the
  //    node is available in the gateway's fleet and the worker has its tokenizer loaded. Stopped together
  //    (SIGTERM lets the gateway flush its usage buffer) before the keys are deleted.
  const traceFile = join(dir, 'gateway-modules.txt');
  let otelEndpoint: string | undefined;
  if (opts.otel === true) {
    const receiver = await startOtlpReceiver();
    // Counted and dropped each second, so a long run does not pile spans up in the bench's own process.
    let received = 0;
    const drop = (): void => {
      received += receiver.spans().length;
      receiver.clear();
    };
    const dropping = setInterval(drop, 1_000);
    cleanup.add('otlp receiver', async () => {
      clearInterval(dropping);
      drop();
      log(`tracing: the receiver took ${received} spans`);
      await receiver.close();
    });
    otelEndpoint = receiver.url;
  }
  let interrupted = false;
  const starting = startStack({
    root,
    redisUrl: found.url,
    prefix,
    from: 'dist',
    fakeProcess: true,
    fakeTiming: opts.timing,
    fakeRecordBodies: false,
    nodes: [{ id: 'bench-node', accountId: 'key-1', kind: 'api_key' }],
    gatewayIds: ['bench-gateway'],
    replicaUrls: false,
    metricsToken: null,
    worker: { WORKER_CLOSE_TIMEOUT_MS: '3000' },
    env: { LOG_LEVEL: 'info', LOG_FORMAT: 'json', NODE_ENV: 'production', GIT_SHA: opts.gitSha },
    gatewayEnv: {
      DRAIN_TIMEOUT_MS: '2000',
      NODE_OPTIONS: `--import=${join(root, 'scripts/trace-modules.mjs')}`,
      TRACE_MODULES_FILE: traceFile,
    },
    nodeEnv: { DRAIN_TIMEOUT_MS: '2000' },
    dir,
    logDir: dir,
    directLogs: true,
    nodeArgs: (name) =>
      opts.cpuProfDir === undefined
        ? []
        : ['--cpu-prof', `--cpu-prof-dir=${join(opts.cpuProfDir, PROFILE_DIRS[name] ?? name.replace(/\W+/g, '-'))}`],
    // The SDK's own batching (5 s), as in production.
    ...(otelEndpoint === undefined ? {} : { otel: { endpoint: otelEndpoint, scheduleDelayMs: 5_000 } }),
    reaper,
    waitReady: true,
    startTimeoutMs: 60_000,
    readyTimeoutMs: 30_000,
    stopGraceMs: 5_000,
    aborted: () => interrupted,
    log,
  });
  cleanup.add('stack', async () => {
    interrupted = true;
    await (await starting.catch(() => undefined))?.stop();
  });
  const stack: Stack<FakeAnthropicProcess> = await starting;
  const fakeApiKey = stack.fake.accounts[0]?.apiKey;
  if (fakeApiKey === undefined) throw new Error('the fake started without an API key account');

  // 4. A gateway key without limits, made through the admin API.
  const { key } = await stack.createKey({ name: 'bench' });
  const local = ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(found.url).hostname);
  const redisPid = local ? Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]) || undefined : undefined;
  log(
    `stack ready: gateway ${stack.gatewayUrl}, fake ${stack.fake.url}, redis ${found.url} prefix ${prefix}, logs ${dir}`,
  );
  return {
    root,
    redisUrl: found.url,
    prefix,
    redis,
    fake: stack.fake,
    fakeApiKey,
    gateway: logged(stack.gateway, 'the gateway'),
    node: logged(stack.nodes['bench-node']?.svc, 'the node'),
    worker: logged(stack.worker, 'the worker'),
    gatewayUrl: stack.gatewayUrl,
    gatewayKey: key,
    redisPid,
    tracing: otelEndpoint !== undefined,
    gatewayModules: () =>
      readFileSync(traceFile, 'utf8')
        .split('\n')
        .filter((l) => l.length > 0),
  };
}
