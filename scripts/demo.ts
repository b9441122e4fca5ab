// `npm run demo`: the whole stack on this machine in one command — the fake Anthropic upstream with two
// OAuth accounts, a node-agent per account (each logs in with a refresh token against the fake), the
// gateway and the usage worker — against a Redis under a private prefix. Prints the gateway URL, a user
// key, the admin token and copy-paste lines; stops everything on Ctrl-C (SIGINT) or SIGTERM.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withDeadline } from '@switchyard/shared';
import { createFakeAnthropic, deleteKeys, freePort, processAlive, type FakeAnthropic } from '@switchyard/testkit';
import { startReaper } from '../bench/services.js';
import { readyBanner } from './demo/banner.js';
import { createChildren, type ChildExit } from './demo/children.js';
import { DemoError } from './demo/demo-error.js';
import { DEMO_USAGE, parseDemoOptions, type DemoOptions } from './demo/options.js';
import { chooseRedis, type ChosenRedis } from './demo/redis.js';
import { adminRequest, enrolAndStartNodes, startGatewaySide, waitReady, type DemoNode } from './demo/services.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NODES: DemoNode[] = [
  { nodeId: 'demo-a', accountId: 'acct-demo-a', email: 'demo-a@example.test' },
  { nodeId: 'demo-b', accountId: 'acct-demo-b', email: 'demo-b@example.test' },
];
const READY_TIMEOUT_MS = 120_000;
/** Gateway and nodes drain in-flight streams for up to 5 s (DRAIN_TIMEOUT_MS below); past this they are killed. */
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

function describeExit(exit: ChildExit): string {
  if (exit.signal !== null) return `was killed by ${exit.signal}`;
  return exit.code === null ? 'could not be started' : `exited with code ${exit.code}`;
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
  let fake: FakeAnthropic | undefined;
  const children = createChildren({
    cwd: ROOT,
    logDir,
    verbose: opts.verbose,
    onStart(child) {
      reaper.watch(child.pid);
      pids[child.name] = child.pid;
      writePids();
    },
    onUnexpectedExit(child, exit) {
      if (stopping) return;
      process.stderr.write(
        `\nswitchyard demo: ${child.name} ${describeExit(exit)}. Its last log lines (${child.logFile}):\n`,
      );
      for (const line of child.tail(15)) process.stderr.write(`  ${line}\n`);
      void shutdown(1);
    },
  });

  // 3. Shutdown: the services first (they drain), then the fake, the demo's keys, its redis-server.
  function shutdown(code: number): Promise<void> {
    stopping ??= (async () => {
      // Refused before anything ran (no Redis, say): the one line already printed says it all.
      const quiet = children.all().length === 0 && fake === undefined;
      if (!quiet) say('\ndemo: stopping the gateway, the node-agents and the usage worker…');
      const byName = (name: string) => children.all().filter((c) => c.name === name || c.name.startsWith(`${name} `));
      const services = [...byName('gateway'), ...byName('node'), ...byName('usage-worker')];
      await Promise.all(services.map((c) => c.stop(SERVICE_GRACE_MS)));
      if (fake) await withDeadline(fake.stop(), 3_000, 'stopping the fake upstream').catch(() => undefined);
      if (redis) {
        await withDeadline(deleteKeys(redis.client, opts.prefix), 3_000, 'clearing the demo keys').catch(
          () => undefined,
        );
        redis.client.disconnect();
      }
      await Promise.all(children.all().map((c) => c.stop(3_000)));
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
    children.killAll();
    reaper.done();
    process.exit(1);
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, onSignal);

  try {
    // 4. Redis, and a clean private keyspace.
    redis = await chooseRedis({ redisUrl: opts.redisUrl, local: opts.localRedis, children, dataDir: workDir });
    await deleteKeys(redis.client, opts.prefix);
    reaper.watchKeys(redis.url, opts.prefix);
    say(`demo: Redis: ${redis.how}; keys under ${opts.prefix} (cleared)`);
    if (stopping) return;

    // 5. The fake upstream (in this process) with two OAuth accounts, paced a little so a streamed
    //    answer visibly streams; each node logs in with its account's refresh token.
    fake = createFakeAnthropic({
      accounts: NODES.map((n) => ({ id: n.accountId, kind: 'oauth' as const, email: n.email })),
      timing: { deltaIntervalMs: 30, textDeltas: 12 },
      recordBodies: false,
      recordLimit: 1000,
    });
    await fake.start({ port: 0, host: '127.0.0.1' });
    say(`demo: fake Anthropic upstream at ${fake.url} (accounts ${NODES.map((n) => n.email).join(', ')})`);
    if (stopping) return;

    // 6. The gateway (on the asked port, or a free one) and the usage worker, then two node-agents that dial in.
    let gatewayPort = opts.port;
    if (!(await portFree(gatewayPort))) {
      gatewayPort = await freePort();
      say(`demo: port ${opts.port} is taken; the gateway listens on port ${gatewayPort} instead`);
    }
    const adminToken = randomBytes(32).toString('hex');
    // Its own token: a scraper holds no admin rights (docs/EDGES.md).
    const metricsToken = randomBytes(32).toString('hex');
    const upstream = fake;
    const input = {
      children,
      nodes: NODES,
      common: { LOG_FORMAT: 'pretty', LOG_LEVEL: 'info', GIT_SHA: gitSha() },
      redis: { REDIS_URL: redis.url, REDIS_PREFIX: opts.prefix },
      fakeUrl: upstream.url,
      refreshToken: (accountId: string) => upstream.issueRefreshToken(accountId),
      gatewayPort,
      adminToken,
      metricsToken,
      workDir,
    };
    const services = await startGatewaySide(input);
    say(
      `demo: starting the gateway and the usage worker, then node-agents ${NODES.map((n) => n.nodeId).join(' and ')}, enrolled through the admin API (logs in ${logDir})…`,
    );
    if (
      !(await enrolAndStartNodes(input, services, {
        timeoutMs: READY_TIMEOUT_MS,
        stopped: () => stopping !== undefined,
      }))
    )
      return;

    // 7. Ready: the gateway answers /ready, lists both nodes as available, and the worker has loaded its tokenizer.
    if (
      !(await waitReady({
        services,
        adminToken,
        nodes: NODES,
        logDir,
        timeoutMs: READY_TIMEOUT_MS,
        stopped: () => stopping !== undefined,
      }))
    )
      return;
    const { gatewayUrl } = services;

    // 8. A user key, then the block the operator copies from.
    const created = await adminRequest(gatewayUrl, adminToken, 'POST', '/keys', { name: 'demo' });
    if (created.status !== 201)
      throw new DemoError(`switchyard demo: creating the demo key failed (${created.status}): ${await created.text()}`);
    const { key } = (await created.json()) as { key: string };
    if (stopping) return;
    for (const line of readyBanner({
      gatewayUrl,
      workerMetricsUrl: services.workerMetricsUrl,
      userKey: key,
      adminToken,
      metricsToken,
      nodes: NODES,
      redis: redis.how,
      prefix: opts.prefix,
      logDir,
      verbose: opts.verbose,
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
