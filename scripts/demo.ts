// `npm run demo`: the whole stack on this machine in one command — the fake Anthropic upstream with two
// OAuth accounts, a node-agent per account (each logs in with a refresh token against the fake), the
// gateway and the usage worker — against a Redis under a private prefix. Prints the gateway URL, a user
// key, the admin token and copy-paste lines; stops everything on Ctrl-C (SIGINT) or SIGTERM. With --otel URL every
// process exports its traces to that OTLP/HTTP collector (startStack's otel option).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withDeadline } from '@switchyard/shared';
import {
  deleteKeys,
  freePort,
  processAlive,
  startProcess,
  startReaper,
  startStack,
  StackStartAborted,
  type ProcessExit,
  type SpawnedService,
  type Stack,
} from '@switchyard/testkit';
import { readyBanner } from './demo/banner.js';
import { DemoError } from './demo/demo-error.js';
import { DEMO_USAGE, parseDemoOptions, type DemoOptions } from './demo/options.js';
import { chooseRedis, type ChosenRedis, type StartProcess } from './demo/redis.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** The demo's nodes, and the account each holds on the fake upstream. */
const NODES = [
  { nodeId: 'demo-a', accountId: 'acct-demo-a', email: 'demo-a@example.test' },
  { nodeId: 'demo-b', accountId: 'acct-demo-b', email: 'demo-b@example.test' },
];
const READY_TIMEOUT_MS = 120_000;
/** Gateway and nodes drain in-flight streams for up to 5 s (the stack's DRAIN_TIMEOUT_MS); past this they are killed. */
const SERVICE_GRACE_MS = 10_000;

const say = (line: string) => process.stdout.write(`${line}\n`);

/** Whether the gateway could listen on 127.0.0.1:port right now. */
function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function gitSha(): string {
  try {
    return (
      execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] })
        .toString()
        .trim() || 'demo'
    );
  } catch {
    return 'demo';
  }
}

function describeExit(exit: ProcessExit): string {
  if (exit.signal !== null) return `was killed by ${exit.signal}`;
  return exit.code === null ? 'could not be started' : `exited with code ${exit.code}`;
}

/** The first line of an error's message (the launcher's errors carry the processes' output after it). */
function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

async function main(opts: DemoOptions): Promise<void> {
  // 1. Scratch space (credentials mirror, usage spool; removed at exit) and the log dir (kept).
  const workDir = mkdtempSync(join(tmpdir(), 'switchyard-demo-'));
  const logDir = opts.logDir ?? mkdtempSync(join(tmpdir(), 'switchyard-demo-logs-'));
  mkdirSync(logDir, { recursive: true });
  const pids: Record<string, number> = { demo: process.pid };
  const writePids = () => writeFileSync(join(logDir, 'pids.json'), `${JSON.stringify(pids, null, 2)}\n`);

  // 2. A watchdog that stops the children should this process die without doing it (SIGKILL, a crash).
  const reaper = startReaper(ROOT);
  pids.reaper = reaper.pid;
  reaper.watchDir(workDir);
  writePids();

  let stopping: Promise<void> | undefined;
  let redis: ChosenRedis | undefined;
  let starting: Promise<Stack> | undefined;
  // Every process the demo started (the stack's, and a redis-server of its own): each in its own process group
  // (a terminal's Ctrl-C reaches only the demo, which stops them in order), its output in <logDir>/<name>.log.
  const processes: SpawnedService[] = [];
  const onStart = (svc: SpawnedService) => {
    processes.push(svc);
    pids[svc.name] = svc.pid;
    writePids();
  };
  const onUnexpectedExit = (svc: SpawnedService, exit: ProcessExit) => {
    if (stopping) return;
    process.stderr.write(
      `\nswitchyard demo: ${svc.name} ${describeExit(exit)}. Its last log lines (${svc.logFile}):\n`,
    );
    for (const line of svc.tail(15)) process.stderr.write(`  ${line}\n`);
    void shutdown(1);
  };
  const start: StartProcess = (spec) => {
    const svc = startProcess({
      ...spec,
      cwd: ROOT,
      logFile: join(logDir, `${spec.name.replace(/[^A-Za-z0-9_.-]+/g, '-')}.log`),
      keepChars: 64_000,
      echo: opts.verbose,
      group: true,
      onExit: (exit, stopped) => void (stopped || onUnexpectedExit(svc, exit)),
    });
    reaper.watch(svc.pid);
    onStart(svc);
    return svc;
  };

  // 3. Shutdown: the stack (its services drain, then the fake, the demo's keys), then the demo's redis-server.
  function shutdown(code: number): Promise<void> {
    stopping ??= (async () => {
      // Refused before anything ran (no Redis, say): the one line already printed says it all.
      const quiet = processes.length === 0 && starting === undefined;
      if (!quiet) say('\ndemo: stopping the gateway, the node-agents and the usage worker…');
      // A start still under way gives up (the launcher stops what it started); a started stack stops here.
      const stack = await starting?.catch(() => undefined);
      await withDeadline(stack?.stop() ?? Promise.resolve(), SERVICE_GRACE_MS + 6_000, 'stopping the stack').catch(
        () => undefined,
      );
      if (redis) {
        await withDeadline(deleteKeys(redis.client, opts.prefix), 3_000, 'clearing the demo keys').catch(
          () => undefined,
        );
        redis.client.disconnect();
      }
      await Promise.all(processes.map((p) => p.stop(3_000)));
      reaper.done();
      rmSync(workDir, { recursive: true, force: true });
      // The watchdog exits once it read "done"; leaving before the pipe flushed would make it think we died.
      for (let i = 0; i < 40 && processAlive(reaper.pid); i++) await new Promise((r) => setTimeout(r, 50));
      if (quiet && opts.logDir === undefined) rmSync(logDir, { recursive: true, force: true });
      if (!quiet) say(`Switchyard demo stopped${code === 0 ? '' : ' after an error'}. Logs: ${logDir}`);
      process.exit(code);
    })();
    return stopping;
  }
  let firstSignalAt: number | undefined;
  const onSignal = () => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      return void shutdown(0);
    }
    // One Ctrl-C can arrive twice (a wrapper forwarding it to the group as well); a second press is later.
    if (Date.now() - firstSignalAt < 1_000) return;
    say('demo: second signal: killing everything now.');
    for (const p of processes) p.kill();
    reaper.done();
    process.exit(1);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);

  try {
    // 4. Redis, and a clean private keyspace.
    redis = await chooseRedis({ redisUrl: opts.redisUrl, local: opts.localRedis, start, dataDir: workDir });
    await deleteKeys(redis.client, opts.prefix);
    reaper.watchKeys(redis.url, opts.prefix);
    say(`demo: Redis: ${redis.how}; keys under ${opts.prefix} (cleared)`);
    if (stopping) return;

    // 5. The gateway's port: the asked one, or a free one.
    let gatewayPort = opts.port;
    if (!(await portFree(gatewayPort))) {
      gatewayPort = await freePort();
      say(`demo: port ${opts.port} is taken; the gateway listens on port ${gatewayPort} instead`);
    }
    const adminToken = randomBytes(32).toString('hex');
    // Its own token: a scraper holds no admin rights (docs/EDGES.md).
    const metricsToken = randomBytes(32).toString('hex');
    const workerMetricsPort = await freePort();

    // 6. The stack, by testkit's launcher: the fake upstream (in this process) with two OAuth accounts, paced a
    //    little so a streamed answer visibly streams; the gateway and the usage worker; then two node-agents,
    //    enrolled through the admin API (as `switchyard nodes add` does), each logging in with its account's
    //    refresh token. Ready once the gateway answers /ready, lists both nodes as available, and the worker
    //    has loaded its tokenizer.
    say(
      `demo: starting the fake Anthropic upstream (accounts ${NODES.map((n) => n.email).join(', ')}), the gateway and the usage worker, then node-agents ${NODES.map((n) => n.nodeId).join(' and ')}, enrolled through the admin API (logs in ${logDir})…`,
    );
    if (opts.otelEndpoint !== undefined)
      say(
        `demo: tracing on: the gateway, the node-agents and the usage worker export spans to ${opts.otelEndpoint} (OTLP/HTTP, /v1/traces)`,
      );
    starting = startStack({
      root: ROOT,
      redisUrl: redis.url,
      prefix: opts.prefix,
      nodes: NODES.map((n) => ({ id: n.nodeId, accountId: n.accountId, email: n.email, label: n.email })),
      fakeTiming: { deltaIntervalMs: 30, textDeltas: 12 },
      fakeRecordBodies: false,
      fakeRecordLimit: 1000,
      gatewayIds: ['demo-gateway'],
      gatewayPorts: [gatewayPort],
      replicaUrls: false,
      adminToken,
      metricsToken,
      env: { LOG_FORMAT: 'pretty', LOG_LEVEL: 'info', GIT_SHA: gitSha() },
      ...(opts.otelEndpoint === undefined ? {} : { otel: { endpoint: opts.otelEndpoint } }),
      worker: {
        HOST: '127.0.0.1',
        METRICS_PORT: String(workerMetricsPort),
        METRICS_TOKEN: metricsToken,
        WORKER_CLOSE_TIMEOUT_MS: '3000',
      },
      nodeEnv: { METRICS_TOKEN: adminToken },
      dir: workDir,
      logDir,
      echo: opts.verbose,
      processGroups: true,
      reaper,
      onStart,
      onUnexpectedExit,
      waitReady: true,
      startTimeoutMs: READY_TIMEOUT_MS,
      readyTimeoutMs: READY_TIMEOUT_MS,
      stopGraceMs: SERVICE_GRACE_MS,
      aborted: () => stopping !== undefined,
    });
    const stack = await starting.catch((err: unknown) => {
      if (err instanceof StackStartAborted) return undefined;
      throw new DemoError(`switchyard demo: the stack did not start: ${firstLine(err)}; see the logs in ${logDir}`);
    });
    if (stack === undefined || stopping) return;
    say(`demo: fake Anthropic upstream at ${stack.fake.url}`);

    // 7. A user key, then the block the operator copies from.
    const { key } = await stack.createKey({ name: 'demo' }).catch((err: unknown) => {
      throw new DemoError(`switchyard demo: creating the demo key failed: ${firstLine(err)}`);
    });
    if (stopping) return;
    for (const line of readyBanner({
      gatewayUrl: stack.gatewayUrl,
      workerMetricsUrl: `http://127.0.0.1:${workerMetricsPort}/metrics`,
      userKey: key,
      adminToken,
      metricsToken,
      nodes: NODES,
      redis: redis.how,
      prefix: opts.prefix,
      logDir,
      verbose: opts.verbose,
      otelEndpoint: opts.otelEndpoint,
    }))
      say(line);
  } catch (err) {
    if (stopping) return;
    process.stderr.write(
      `${err instanceof DemoError ? err.message : `switchyard demo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`}\n`,
    );
    await shutdown(1);
  }
}

let options: DemoOptions;
try {
  options = parseDemoOptions(process.argv.slice(2), process.env);
} catch (err) {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
if (options.help) {
  say(DEMO_USAGE);
  process.exit(0);
}
await main(options);
