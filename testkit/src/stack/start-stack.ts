// The one launcher of a whole local stack, as operators run it: gateway replicas, node-agent processes that dial
// in to them through the tunnel, the usage worker and the fake Anthropic upstream, on loopback, against a real
// Redis under a private prefix. The chain tests, `npm run demo` and the bench all start their stack here; the
// options cover what each needs (processes from source or from the build, log files, process groups, a watchdog,
// fixed ports, an edge, restarts, tracing to a collector).
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { uniquePrefix } from '../config.js';
import { createFakeAnthropic, type FakeAnthropic, type Timing } from '../fake-anthropic/index.js';
import { startFakeAnthropicProcess, type FakeAnthropicProcess, type PlainTiming } from '../fake-anthropic-process.js';
import { freePort } from '../redis-server.js';
import { deleteKeys } from '../redis-keys.js';
import { startProcess, type ProcessExit, type SpawnedService } from '../spawn-service.js';
import { waitFor } from '../wait-for.js';
import type { Reaper } from './reaper.js';

/** One node to start, and the account it holds on the fake upstream. */
export interface StackNodeSpec {
  id: string;
  /** Its account on the fake (default `acct-<id>`). */
  accountId?: string;
  /** oauth (default): the node logs in with a refresh token; api_key: it holds the account's API key. */
  kind?: 'oauth' | 'api_key';
  /** The account's email (default `<id>@example.test`). */
  email?: string;
  /** Its label in the fleet (default `<id> (test)`). */
  label?: string;
}

/** One gateway replica of the stack. */
export interface StackGateway {
  id: string;
  url: string;
  port: number;
  /** Where its admin plane is: its own listener with `adminListener`, else the main one. */
  adminUrl: string;
  svc: SpawnedService;
}

/** One node of the stack: its process, its identity and its credentials volume. */
export interface StackNode {
  svc: SpawnedService;
  accountId: string;
  token: string;
  /** The node's CREDENTIALS_DIR (its volume). */
  dir: string;
  /** The environment it was started with (startNode() reuses it). */
  env: Record<string, string>;
}

/** Tracing for every process of the stack (docs/TRACING.md): where to export and how. */
export interface StackTracing {
  /** The collector's OTLP/HTTP base URL (OTEL_EXPORTER_OTLP_ENDPOINT; the exporter appends /v1/traces). */
  endpoint: string;
  /** OTEL_TRACES_SAMPLER (default the SDK's, parentbased_always_on), and its argument. */
  sampler?: string;
  samplerArg?: number;
  /**
   * OTEL_BSP_SCHEDULE_DELAY: how long the batch processor holds spans before exporting (default 100 ms here, so a
   * test sees its spans soon; the SDK's own default is 5 s).
   */
  scheduleDelayMs?: number;
}

/**
 * The OTEL_* variables a process of the stack gets: with `otel`, the endpoint, the batch delay and the sampler;
 * without it none at all (children start from PATH and HOME only, so the caller's own OTEL_* never leak in).
 */
export function stackTracingEnv(otel: StackTracing | undefined): Record<string, string> {
  if (otel === undefined) return {};
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: otel.endpoint,
    OTEL_BSP_SCHEDULE_DELAY: String(otel.scheduleDelayMs ?? 100),
    ...(otel.sampler === undefined ? {} : { OTEL_TRACES_SAMPLER: otel.sampler }),
    ...(otel.samplerArg === undefined ? {} : { OTEL_TRACES_SAMPLER_ARG: String(otel.samplerArg) }),
  };
}

/** The fake upstream: in this process (tests, the demo) or in its own (the bench). */
export type StackFake = FakeAnthropic | FakeAnthropicProcess;

export interface StackOptions {
  redisUrl: string;
  /** The keyspace, deleted by stop() (default a fresh `chain:` prefix). */
  prefix?: string;
  /** The repository root the processes run from (default the working directory). */
  root?: string;
  /** 'source' (default): the TypeScript entries through tsx; 'dist': the build, as the images run it. */
  from?: 'source' | 'dist';
  /** The nodes as ids (oauth accounts `acct-<id>`), default node-a and node-b; or `nodes` in full. */
  nodeIds?: string[];
  nodes?: StackNodeSpec[];
  /** Gateway replicas (default 1), with ids gw-1, gw-2, … unless `gatewayIds` names them. */
  gateways?: number;
  gatewayIds?: string[];
  /** The replicas' ports (default free ones, chosen again should another process take one first). */
  gatewayPorts?: number[];
  /**
   * An edge in front of the replicas, started once they listen: the nodes dial its URL, and the replicas
   * advertise no direct URL (nodes reach each one through the edge, by the replica header).
   */
  edge?: (gateways: readonly StackGateway[]) => Promise<{ url: string; stop(): Promise<void> }>;
  /** Give each replica's admin plane a listener of its own on loopback (ADMIN_PORT). */
  adminListener?: boolean;
  /** Each replica advertises its loopback URL (GATEWAY_REPLICA_URL); default yes, unless behind an edge. */
  replicaUrls?: boolean;
  /** Also start the usage worker (environment added to its defaults). */
  worker?: boolean | Record<string, string>;
  fakeTiming?: Partial<Timing>;
  /** The fake in a process of its own, so its work never shares the caller's event loop (API-key nodes only). */
  fakeProcess?: boolean;
  /** Whether the fake records request bodies (default yes), and how many records it keeps. */
  fakeRecordBodies?: boolean;
  fakeRecordLimit?: number;
  /** Default: random. */
  adminToken?: string;
  /** Default: random; null gives the processes no METRICS_TOKEN. */
  metricsToken?: string | null;
  /** Environment of every process (log settings, GIT_SHA). */
  env?: Record<string, string>;
  /** Gateways, node-agents and the worker export traces here (OTEL_* added after `env`, before the per-role env). */
  otel?: StackTracing;
  /** Environment added to every gateway replica's. */
  gatewayEnv?: Record<string, string>;
  /** Environment added to every node-agent's. */
  nodeEnv?: Record<string, string>;
  /** The scratch directory for the spools and credential volumes (default a temp directory stop() removes). */
  dir?: string;
  /** Each process's output also goes to `<logDir>/<name>.log`. */
  logDir?: string;
  /** The output goes to the log file only, never through this process (the bench: it must not slow them). */
  directLogs?: boolean;
  /** Echo every process's lines on stdout, prefixed with its name (the demo's --verbose). */
  echo?: boolean;
  /** Each process in its own process group (the demo: a terminal's Ctrl-C reaches only the demo). */
  processGroups?: boolean;
  /** Node flags per process name (the bench's --cpu-prof). */
  nodeArgs?: (name: string) => string[];
  /** Told every pid, so it can stop them should the caller die. */
  reaper?: Reaper;
  onStart?(svc: SpawnedService): void;
  /** A process that exits without stop() having been asked. */
  onUnexpectedExit?(svc: SpawnedService, exit: ProcessExit): void;
  /** Also wait until every replica is ready and lists every node as available (what the demo and the bench serve on). */
  waitReady?: boolean;
  /** The limit on each wait while starting (default 30 s) and on waitReady (default 20 s). */
  startTimeoutMs?: number;
  readyTimeoutMs?: number;
  /** Asked while starting: true gives up, stopping what started. */
  aborted?(): boolean;
  /** Progress lines while starting. */
  log?(line: string): void;
  /** How long stop() lets each process drain after SIGTERM before killing it (default 8 s). */
  stopGraceMs?: number;
}

/** A started stack. */
export interface Stack<F extends StackFake = FakeAnthropic> {
  /** The first replica's URL (what clients use). */
  gatewayUrl: string;
  adminToken: string;
  /** Every replica's METRICS_TOKEN (scrapes /metrics on the main port; holds no admin rights). */
  metricsToken: string;
  redisUrl: string;
  prefix: string;
  fake: F;
  /** The first replica. */
  gateway: SpawnedService;
  gateways: StackGateway[];
  nodes: Record<string, StackNode>;
  /** The usage worker, once started (with `worker`, or by startWorker()). */
  worker: SpawnedService | undefined;
  /** Where the first gateway spools usage jobs it cannot enqueue. */
  spoolDir: string;
  /** Starts a (new) usage worker process against the stack's Redis and prefix; resolves once it is ready. */
  startWorker(env?: Record<string, string>): Promise<SpawnedService>;
  /** Starts (again) gateway replica i on its port; resolves once it listens. */
  startGateway(i: number): Promise<StackGateway>;
  /** Starts (again) a node process with its env (plus `env`); resolves once it has started. */
  startNode(nodeId: string, env?: Record<string, string>): Promise<StackNode>;
  /** Creates a gateway key through the admin API. */
  createKey(body?: Record<string, unknown>): Promise<{ key: string; id: string }>;
  /** The admin API of replica `replica` (default the first). */
  admin(method: string, path: string, body?: unknown, replica?: number): Promise<Response>;
  /** Waits until /ready says ready and every node is available in /admin/nodes, on every replica. */
  waitReady(): Promise<void>;
  /** Stops every process and the fake, deletes the stack's Redis keys and its own scratch directory. */
  stop(): Promise<void>;
}

/** The error of a start given up because `aborted()` turned true. */
export class StackStartAborted extends Error {
  constructor() {
    super('the stack start was given up');
    this.name = 'StackStartAborted';
  }
}

/**
 * Starts the whole stack; should any part fail to start, stops what did and throws.
 * @example
 * const stack = await startStack({ redisUrl: testRedisUrl(), nodeIds: ['node-a'], worker: true });
 * await stack.waitReady();
 * const { key } = await stack.createKey();
 * await stack.stop();
 */
export async function startStack(opts: StackOptions & { fakeProcess: true }): Promise<Stack<FakeAnthropicProcess>>;
export async function startStack(opts: StackOptions & { fakeProcess?: false }): Promise<Stack<FakeAnthropic>>;
export async function startStack(opts: StackOptions): Promise<Stack<StackFake>> {
  const stack = new LocalStack(opts, await startFake(opts));
  try {
    await stack.start();
    return stack;
  } catch (err) {
    await stack.stop().catch(() => undefined);
    throw opts.aborted?.() ? new StackStartAborted() : err;
  }
}

function nodeSpecs(opts: StackOptions): Required<StackNodeSpec>[] {
  const given: StackNodeSpec[] = opts.nodes ?? (opts.nodeIds ?? ['node-a', 'node-b']).map((id) => ({ id }));
  return given.map((n) => ({
    id: n.id,
    accountId: n.accountId ?? `acct-${n.id}`,
    kind: n.kind ?? 'oauth',
    email: n.email ?? `${n.id}@example.test`,
    label: n.label ?? `${n.id} (test)`,
  }));
}

async function startFake(opts: StackOptions): Promise<StackFake> {
  const accounts = nodeSpecs(opts).map((n) => ({ id: n.accountId, kind: n.kind, email: n.email }));
  const recording = {
    ...(opts.fakeRecordBodies === undefined ? {} : { recordBodies: opts.fakeRecordBodies }),
    ...(opts.fakeRecordLimit === undefined ? {} : { recordLimit: opts.fakeRecordLimit }),
  };
  if (opts.fakeProcess) {
    const { responseText, ...timing } = opts.fakeTiming ?? {};
    if (typeof responseText === 'function') throw new Error('a fake in its own process takes a fixed responseText');
    const plain: Partial<PlainTiming> = responseText === undefined ? timing : { ...timing, responseText };
    const fake = await startFakeAnthropicProcess({
      ...(opts.root === undefined ? {} : { cwd: opts.root }),
      options: { accounts, timing: plain, ...recording },
    });
    opts.reaper?.watch(fake.pid);
    return fake;
  }
  const fake = createFakeAnthropic({ accounts, ...recording });
  if (opts.fakeTiming) fake.setTiming(opts.fakeTiming);
  await fake.start({ port: 0, host: '127.0.0.1' });
  return fake;
}

/** A node's credentials as its .env holds them: a refresh token (and where to use it), or an API key. */
function credentialsEnv(fake: StackFake, node: Required<StackNodeSpec>): Record<string, string> {
  const inProcess = 'issueRefreshToken' in fake;
  if (node.kind === 'api_key') {
    const account = inProcess ? fake.account(node.accountId) : fake.accounts.find((a) => a.id === node.accountId);
    if (account?.apiKey === undefined) throw new Error(`the fake has no API key for ${node.accountId}`);
    return { ANTHROPIC_API_KEY: account.apiKey };
  }
  if (!inProcess) throw new Error(`${node.id}: a fake in its own process serves API-key nodes only`);
  return {
    ANTHROPIC_OAUTH_TOKEN_URL: `${fake.url}/v1/oauth/token`,
    CLAUDE_REFRESH_TOKEN: fake.issueRefreshToken(node.accountId),
  };
}

/**
 * Runs `start` again (at most twice more) when the process it started could not listen: another process on this
 * machine may bind a port between freePort() choosing it and our child binding it. `start` picks its ports afresh
 * when `retry` is set.
 */
async function retryIfPortTaken<T>(start: (retry: boolean) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(attempt > 1);
    } catch (err) {
      if (attempt >= 3 || !String(err).includes('EADDRINUSE')) throw err;
    }
  }
}

class LocalStack implements Stack<StackFake> {
  readonly adminToken: string;
  readonly metricsToken: string;
  readonly redisUrl: string;
  readonly prefix: string;
  readonly gateways: StackGateway[] = [];
  readonly nodes: Record<string, StackNode> = {};
  worker: SpawnedService | undefined;
  readonly spoolDir: string;
  readonly #opts: StackOptions;
  readonly #root: string;
  readonly #dir: string;
  readonly #ownDir: boolean;
  readonly #nodeSpecs: Required<StackNodeSpec>[];
  readonly #ports: number[] = [];
  readonly #adminPorts: number[] = [];
  readonly #tokens: Record<string, string> = {};
  readonly #started = new Set<SpawnedService>();
  #edge: { url: string; stop(): Promise<void> } | undefined;

  constructor(
    opts: StackOptions,
    readonly fake: StackFake,
  ) {
    this.#opts = opts;
    this.#root = opts.root ?? process.cwd();
    this.redisUrl = opts.redisUrl;
    this.prefix = opts.prefix ?? uniquePrefix('chain');
    this.adminToken = opts.adminToken ?? randomBytes(32).toString('hex');
    this.metricsToken = opts.metricsToken ?? randomBytes(32).toString('hex');
    this.#ownDir = opts.dir === undefined;
    this.#dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sy-stack-'));
    this.spoolDir = join(this.#dir, 'usage-spool');
    this.#nodeSpecs = nodeSpecs(opts);
  }

  get gatewayUrl(): string {
    return this.#first().url;
  }

  get gateway(): SpawnedService {
    return this.#first().svc;
  }

  /** 1. the replicas (and the worker, which loads its tokenizer meanwhile), 2. the edge, 3. the nodes enrolled
   * through the admin API and dialling in, 4. the worker ready, 5. with `waitReady`, every node available. */
  async start(): Promise<void> {
    const since = timer();
    const replicas = this.#opts.gateways ?? 1;
    for (let i = 0; i < replicas; i++) {
      this.#ports.push(this.#opts.gatewayPorts?.[i] ?? (await freePort()));
      if (this.#opts.adminListener) this.#adminPorts.push(await freePort());
    }
    const worker = this.#opts.worker ? this.#spawnWorker({}) : undefined;
    await Promise.all(this.#ports.map((_, i) => this.#startGatewayFirstTime(i)));
    this.#opts.log?.(`gateway listening (${since()})`);
    this.#edge = this.#opts.edge === undefined ? undefined : await this.#opts.edge(this.gateways);
    await this.#enrol();
    await Promise.all(this.#nodeSpecs.map((n) => this.startNode(n.id)));
    this.#opts.log?.(`node-agents started (${since()})`);
    if (worker) {
      await this.#awaitLine(worker, /worker ready/, 'the usage worker ready');
      this.#opts.log?.(`worker ready (${since()})`);
    }
    if (this.#opts.waitReady) {
      await this.waitReady();
      this.#opts.log?.(`every node available (${since()})`);
    }
  }

  startGateway = async (i: number): Promise<StackGateway> => {
    const port = this.#ports[i] as number;
    const id = this.#opts.gatewayIds?.[i] ?? `gw-${i + 1}`;
    const url = `http://127.0.0.1:${port}`;
    const adminPort = this.#adminPorts[i];
    const advertise = this.#opts.replicaUrls ?? this.#opts.edge === undefined;
    const svc = this.#spawn((this.#opts.gateways ?? 1) > 1 ? `gateway ${id}` : 'gateway', 'gateway/src/main.ts', {
      ...this.#opts.env,
      ...stackTracingEnv(this.#opts.otel),
      REDIS_URL: this.redisUrl,
      REDIS_PREFIX: this.prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      GATEWAY_ID: id,
      ...(advertise ? { GATEWAY_REPLICA_URL: url } : {}),
      ADMIN_TOKEN: this.adminToken,
      ...(this.#opts.metricsToken === null ? {} : { METRICS_TOKEN: this.metricsToken }),
      DRAIN_TIMEOUT_MS: '5000',
      USAGE_SPOOL_DIR: i === 0 ? this.spoolDir : join(this.#dir, `usage-spool-${id}`),
      ...(adminPort === undefined ? {} : { ADMIN_HOST: '127.0.0.1', ADMIN_PORT: String(adminPort) }),
      ...this.#opts.gatewayEnv,
    });
    const gw = { id, url, port, adminUrl: adminPort === undefined ? url : `http://127.0.0.1:${adminPort}`, svc };
    this.gateways[i] = gw;
    await this.#awaitLine(svc, /gateway started/, `gateway ${id} listening`);
    return gw;
  };

  startNode = async (nodeId: string, env: Record<string, string> = {}): Promise<StackNode> => {
    const spec = this.#nodeSpecs.find((n) => n.id === nodeId);
    if (spec === undefined) throw new Error(`${nodeId} is not a node of this stack`);
    const known = this.nodes[nodeId];
    const dir = known?.dir ?? join(this.#dir, `node-${nodeId}`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const base = known?.env ?? {
      ...this.#opts.env,
      ...stackTracingEnv(this.#opts.otel),
      GATEWAY_URL: this.#edge?.url ?? this.gatewayUrl,
      NODE_ID: nodeId,
      NODE_TOKEN: this.#tokens[nodeId] as string,
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      ANTHROPIC_BASE_URL: this.fake.url,
      ...credentialsEnv(this.fake, spec),
      CREDENTIALS_DIR: dir,
      DRAIN_TIMEOUT_MS: '5000',
      ...this.#opts.nodeEnv,
    };
    return retryIfPortTaken(async (retry) => {
      if (retry) base.PORT = String(await freePort());
      const svc = this.#spawn(`node ${nodeId}`, 'node-agent/src/main.ts', { ...base, ...env });
      const node: StackNode = { svc, accountId: spec.accountId, token: base.NODE_TOKEN as string, dir, env: base };
      this.nodes[nodeId] = node;
      await this.#awaitLine(svc, /node-agent started/, `node ${nodeId} started`);
      return node;
    });
  };

  startWorker = async (env: Record<string, string> = {}): Promise<SpawnedService> => {
    const svc = this.#spawnWorker(env);
    await this.#awaitLine(svc, /worker ready/, 'the usage worker ready');
    return svc;
  };

  admin = (method: string, path: string, body?: unknown, replica = 0): Promise<Response> =>
    fetch(`${(this.gateways[replica] as StackGateway).adminUrl}/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${this.adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  createKey = async (body: Record<string, unknown> = {}): Promise<{ key: string; id: string }> => {
    const res = await this.admin('POST', '/keys', { name: `test-${randomBytes(3).toString('hex')}`, ...body });
    if (res.status !== 201) throw new Error(`key creation failed: ${res.status} ${await res.text()}`);
    const json = (await res.json()) as { key: string; record: { id: string } };
    return { key: json.key, id: json.record.id };
  };

  waitReady = async (): Promise<void> => {
    let seen = '';
    await waitFor(
      `every replica ready with ${Object.keys(this.nodes).length} nodes available`,
      async () => {
        for (let i = 0; i < this.gateways.length; i++) {
          seen = await this.#replicaNotReady(i);
          if (seen !== '') return false;
        }
        return true;
      },
      {
        timeoutMs: this.#opts.readyTimeoutMs ?? 20_000,
        intervalMs: 100,
        stopIf: () => this.#stopReason(),
        detail: () => `${seen}\n${this.gateways.map((g) => g.svc.tail(20).join('\n')).join('\n')}`,
      },
    );
  };

  stop = async (): Promise<void> => {
    const grace = this.#opts.stopGraceMs ?? 8_000;
    await Promise.all([...this.#started].map((svc) => svc.stop(grace)));
    await this.#edge?.stop();
    await this.fake.stop();
    if (this.#opts.fakeProcess) this.#opts.reaper?.unwatch((this.fake as FakeAnthropicProcess).pid);
    if (this.#ownDir) rmSync(this.#dir, { recursive: true, force: true });
    // The stack's keys (enrolments, keys, usage, the queue) go with it.
    const redis = new Redis(this.redisUrl, { lazyConnect: true });
    await deleteKeys(redis, this.prefix).finally(() => redis.disconnect());
  };

  #first(): StackGateway {
    const first = this.gateways[0];
    if (first === undefined) throw new Error('the stack has no gateway yet');
    return first;
  }

  // A replica restarted by a test keeps its port (nodes and clients know its URL); only the first start may move.
  #startGatewayFirstTime(i: number): Promise<StackGateway> {
    return retryIfPortTaken(async (retry) => {
      if (retry && this.#opts.gatewayPorts?.[i] === undefined) {
        this.#ports[i] = await freePort();
        if (this.#opts.adminListener) this.#adminPorts[i] = await freePort();
      }
      return this.startGateway(i);
    });
  }

  /** Enrols each node through the admin API, as `switchyard nodes add` does. */
  async #enrol(): Promise<void> {
    for (const node of this.#nodeSpecs) {
      const res = await this.admin('POST', '/nodes', { id: node.id, label: node.label });
      if (res.status !== 201) throw new Error(`enrolling ${node.id} failed: ${res.status} ${await res.text()}`);
      this.#tokens[node.id] = ((await res.json()) as { token: string }).token;
    }
  }

  #spawnWorker(env: Record<string, string>): SpawnedService {
    const svc = this.#spawn('usage-worker', 'gateway/src/usage-worker/main.ts', {
      ...this.#opts.env,
      ...stackTracingEnv(this.#opts.otel),
      REDIS_URL: this.redisUrl,
      REDIS_PREFIX: this.prefix,
      // Off unless asked: parallel test files must not race for the default port.
      METRICS_PORT: '0',
      ...(typeof this.#opts.worker === 'object' ? this.#opts.worker : {}),
      ...env,
    });
    this.worker = svc;
    return svc;
  }

  /** Starts one process of the stack, from source or from the build, with its log as the options say. */
  #spawn(name: string, sourceEntry: string, env: Record<string, string>): SpawnedService {
    const o = this.#opts;
    const entry = o.from === 'dist' ? sourceEntry.replace('/src/', '/dist/').replace(/\.ts$/, '.js') : sourceEntry;
    const logFile =
      o.logDir === undefined ? undefined : join(o.logDir, `${name.replace(/[^A-Za-z0-9_.-]+/g, '-')}.log`);
    const svc = startProcess({
      name,
      entry,
      env,
      cwd: this.#root,
      ...(logFile === undefined ? {} : { logFile, keepChars: 64_000 }),
      direct: o.directLogs === true,
      echo: o.echo === true,
      group: o.processGroups === true,
      nodeArgs: o.nodeArgs?.(name) ?? [],
      onExit: (exit, stopped) => {
        o.reaper?.unwatch(svc.pid);
        if (!stopped) o.onUnexpectedExit?.(svc, exit);
      },
    });
    this.#started.add(svc);
    if (svc.pid > 0) o.reaper?.watch(svc.pid);
    o.onStart?.(svc);
    return svc;
  }

  /** Waits for a line in a process's output, giving up when it exits or the caller aborts. */
  async #awaitLine(svc: SpawnedService, pattern: RegExp, what: string): Promise<void> {
    await waitFor(what, () => pattern.test(svc.output()), {
      timeoutMs: this.#opts.startTimeoutMs ?? 30_000,
      intervalMs: 25,
      stopIf: () => (pattern.test(svc.output()) ? undefined : (this.#stopReason() ?? exitReason(svc))),
      detail: () => `${svc.name}'s output:\n${svc.output().slice(-8_000)}`,
    });
  }

  #stopReason(): string | undefined {
    return this.#opts.aborted?.() ? 'the start was given up' : undefined;
  }

  /** '' when replica i is ready and lists every node as available, else what it shows. */
  async #replicaNotReady(i: number): Promise<string> {
    const gw = this.gateways[i] as StackGateway;
    const ready = await fetch(`${gw.url}/ready`)
      .then((r) => r.status === 200)
      .catch(() => false);
    const listed = await this.admin('GET', '/nodes', undefined, i)
      .then(async (r) => ((await r.json()) as { nodes?: { nodeId: string; state: string }[] }).nodes ?? [])
      .catch(() => []);
    const available = listed.filter((n) => n.state === 'available').length;
    return ready && available === Object.keys(this.nodes).length
      ? ''
      : `${gw.id}: ready=${ready} nodes=${JSON.stringify(listed)}`;
  }
}

function exitReason(svc: SpawnedService): string | undefined {
  if (svc.running()) return undefined;
  return `${svc.name} exited (${svc.proc.exitCode ?? svc.proc.signalCode})`;
}

function timer(): () => string {
  const t0 = performance.now();
  return () => `${Math.round(performance.now() - t0)} ms`;
}
