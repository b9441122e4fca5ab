// The whole local stack as operators run it: gateway replicas, node-agent processes that dial in to them through
// the tunnel, the fake Anthropic upstream, the usage worker; on loopback, against a real Redis under a private prefix.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { deleteKeys } from '../redis-keys.js';
import { uniquePrefix } from '../config.js';
import { freePort } from '../redis-server.js';
import { createFakeAnthropic, type FakeAnthropic, type Timing } from '../fake-anthropic/index.js';
import { spawnService, type SpawnedService } from '../spawn-service.js';

/** One gateway replica of the chain. */
export interface ChainGateway {
  id: string;
  url: string;
  port: number;
  /** Where its admin plane is: its own listener with `adminListener`, else the main one. */
  adminUrl: string;
  svc: SpawnedService;
}

/** One node of the chain: its process, its identity and its credentials volume. */
export interface ChainNode {
  svc: SpawnedService;
  accountId: string;
  token: string;
  /** The node's CREDENTIALS_DIR (its volume). */
  dir: string;
  /** The environment it was started with (restart() reuses it). */
  env: Record<string, string>;
}

export interface Chain {
  /** The first replica's URL (what clients use). */
  gatewayUrl: string;
  adminToken: string;
  /** Every replica's METRICS_TOKEN (scrapes /metrics on the main port; holds no admin rights). */
  metricsToken: string;
  prefix: string;
  fake: FakeAnthropic;
  /** The first replica. */
  gateway: SpawnedService;
  gateways: ChainGateway[];
  nodes: Record<string, ChainNode>;
  /** The usage worker process, when the chain was started with `worker: true` (replaced by startWorker()). */
  worker: SpawnedService | undefined;
  /** Where the first gateway spools usage jobs it cannot enqueue. */
  spoolDir: string;
  /** Starts a (new) usage worker process against the chain's Redis and prefix; resolves once it is ready. */
  startWorker(env?: Record<string, string>): Promise<SpawnedService>;
  /** Starts (again) gateway replica i on its port; resolves once it listens. */
  startGateway(i: number): Promise<ChainGateway>;
  /** Starts (again) a node process with its env (plus `env`); resolves once it has started. */
  startNode(nodeId: string, env?: Record<string, string>): Promise<ChainNode>;
  /** Creates a gateway key through the admin API. */
  createKey(body?: Record<string, unknown>): Promise<{ key: string; id: string }>;
  /** The admin API of replica `replica` (default the first). */
  admin(method: string, path: string, body?: unknown, replica?: number): Promise<Response>;
  /** Waits until /ready says ready and every node is available in /admin/nodes, on every replica. */
  waitReady(): Promise<void>;
  /** Stops every process and deletes the chain's Redis keys. */
  stop(): Promise<void>;
}

export interface ChainOptions {
  redisUrl: string;
  /** Environment added to every gateway replica's. */
  gatewayEnv?: Record<string, string>;
  /** Environment added to every node-agent's. */
  nodeEnv?: Record<string, string>;
  nodeIds?: string[];
  /** Gateway replicas (default 1), with ids gw-1, gw-2, … each advertising its own loopback URL. */
  gateways?: number;
  /** The replicas' GATEWAY_IDs instead of gw-1, gw-2, … */
  gatewayIds?: string[];
  /**
   * An edge in front of the replicas, started once they listen: the nodes dial its URL, and the replicas
   * advertise no direct URL (nodes reach each one through the edge, by the replica header).
   */
  edge?: (gateways: readonly ChainGateway[]) => Promise<{ url: string; stop(): Promise<void> }>;
  /** Give each replica's admin plane a listener of its own on loopback (ADMIN_PORT). */
  adminListener?: boolean;
  /** Also start the usage worker (environment added to its defaults). */
  worker?: boolean | Record<string, string>;
  fakeTiming?: Partial<Timing>;
}

/** Enrols each node through the admin API, as `switchyard nodes add` does; returns each node's token. */
async function enrol(
  adminUrl: string,
  adminToken: string,
  nodeIds: readonly string[],
): Promise<Record<string, string>> {
  const tokens: Record<string, string> = {};
  for (const nodeId of nodeIds) {
    const res = await fetch(`${adminUrl}/admin/nodes`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: nodeId, label: `${nodeId} (test)` }),
    });
    if (res.status !== 201) throw new Error(`enrolling ${nodeId} failed: ${res.status} ${await res.text()}`);
    tokens[nodeId] = ((await res.json()) as { token: string }).token;
  }
  return tokens;
}

/**
 * Runs `start` again (at most twice more) when the process it started could not listen: another test process on
 * this machine may bind a port between freePort() choosing it and our child binding it. `start` picks its ports
 * afresh when `retry` is set.
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

export async function startChain(opts: ChainOptions): Promise<Chain> {
  const nodeIds = opts.nodeIds ?? ['node-a', 'node-b'];
  const fake = createFakeAnthropic({
    accounts: nodeIds.map((id) => ({ id: `acct-${id}`, email: `${id}@example.test` })),
  });
  if (opts.fakeTiming) fake.setTiming(opts.fakeTiming);
  await fake.start();
  const prefix = uniquePrefix('chain');
  const adminToken = randomBytes(32).toString('hex');
  const metricsToken = randomBytes(32).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'sy-chain-'));
  const spoolDir = join(dir, 'usage-spool');

  const replicaCount = opts.gateways ?? 1;
  const ports: number[] = [];
  const adminPorts: number[] = [];
  for (let i = 0; i < replicaCount; i++) {
    ports.push(await freePort());
    if (opts.adminListener) adminPorts.push(await freePort());
  }
  const gateways: ChainGateway[] = [];
  // A replica restarted by a test keeps its port (nodes and clients know its URL); only the first start may move.
  const startFirstTime = (i: number): Promise<ChainGateway> =>
    retryIfPortTaken(async (retry) => {
      if (retry) {
        ports[i] = await freePort();
        if (opts.adminListener) adminPorts[i] = await freePort();
      }
      return startGateway(i);
    });
  const startGateway = async (i: number): Promise<ChainGateway> => {
    const port = ports[i] as number;
    const id = opts.gatewayIds?.[i] ?? `gw-${i + 1}`;
    const url = `http://127.0.0.1:${port}`;
    const adminPort = adminPorts[i];
    const svc = spawnService('gateway/src/main.ts', {
      REDIS_URL: opts.redisUrl,
      REDIS_PREFIX: prefix,
      PORT: String(port),
      HOST: '127.0.0.1',
      GATEWAY_ID: id,
      ...(opts.edge === undefined ? { GATEWAY_REPLICA_URL: url } : {}),
      ADMIN_TOKEN: adminToken,
      METRICS_TOKEN: metricsToken,
      DRAIN_TIMEOUT_MS: '5000',
      USAGE_SPOOL_DIR: i === 0 ? spoolDir : join(dir, `usage-spool-${id}`),
      ...(adminPort === undefined ? {} : { ADMIN_HOST: '127.0.0.1', ADMIN_PORT: String(adminPort) }),
      ...opts.gatewayEnv,
    });
    const gw = { id, url, port, adminUrl: adminPort === undefined ? url : `http://127.0.0.1:${adminPort}`, svc };
    gateways[i] = gw;
    await svc.waitForOutput(/gateway started/);
    return gw;
  };
  await Promise.all(ports.map((_, i) => startFirstTime(i)));
  const first = gateways[0] as ChainGateway;
  const edge = opts.edge === undefined ? undefined : await opts.edge(gateways);
  const tokens = await enrol(first.adminUrl, adminToken, nodeIds);

  const nodes: Chain['nodes'] = {};
  const startNode = async (nodeId: string, env: Record<string, string> = {}): Promise<ChainNode> => {
    const known = nodes[nodeId];
    const nodeDir = known?.dir ?? join(dir, `node-${nodeId}`);
    mkdirSync(nodeDir, { recursive: true, mode: 0o700 });
    const base = known?.env ?? {
      GATEWAY_URL: edge?.url ?? first.url,
      NODE_ID: nodeId,
      NODE_TOKEN: tokens[nodeId] as string,
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_OAUTH_TOKEN_URL: `${fake.url}/v1/oauth/token`,
      CLAUDE_REFRESH_TOKEN: fake.issueRefreshToken(`acct-${nodeId}`),
      CREDENTIALS_DIR: nodeDir,
      DRAIN_TIMEOUT_MS: '5000',
      ...opts.nodeEnv,
    };
    return retryIfPortTaken(async (retry) => {
      if (retry) base.PORT = String(await freePort());
      const svc = spawnService('node-agent/src/main.ts', { ...base, ...env });
      const node: ChainNode = {
        svc,
        accountId: `acct-${nodeId}`,
        token: base.NODE_TOKEN as string,
        dir: nodeDir,
        env: base,
      };
      nodes[nodeId] = node;
      await svc.waitForOutput(/node-agent started/);
      return node;
    });
  };
  await Promise.all(nodeIds.map((id) => startNode(id)));

  const startWorker = async (env: Record<string, string> = {}): Promise<SpawnedService> => {
    const svc = spawnService('gateway/src/usage-worker/main.ts', {
      REDIS_URL: opts.redisUrl,
      REDIS_PREFIX: prefix,
      // Off unless a test asks: parallel test files must not race for the default port.
      METRICS_PORT: '0',
      ...(typeof opts.worker === 'object' ? opts.worker : {}),
      ...env,
    });
    chain.worker = svc;
    await svc.waitForOutput(/worker ready/, 30_000);
    return svc;
  };

  const admin = (method: string, path: string, body?: unknown, replica = 0) =>
    fetch(`${(gateways[replica] as ChainGateway).adminUrl}/admin${path}`, {
      method,
      headers: {
        authorization: `Bearer ${adminToken}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const chain: Chain = {
    gatewayUrl: first.url,
    adminToken,
    metricsToken,
    prefix,
    fake,
    gateway: first.svc,
    gateways,
    nodes,
    worker: undefined,
    spoolDir,
    startWorker,
    startGateway,
    startNode,
    admin,
    async createKey(body = {}) {
      const res = await admin('POST', '/keys', { name: `test-${randomBytes(3).toString('hex')}`, ...body });
      if (res.status !== 201) throw new Error(`key creation failed: ${res.status} ${await res.text()}`);
      const json = (await res.json()) as { key: string; record: { id: string } };
      return { key: json.key, id: json.record.id };
    },
    async waitReady() {
      const until = Date.now() + 20_000;
      for (;;) {
        let missing = '';
        for (let i = 0; i < gateways.length && missing === ''; i++) {
          const gw = gateways[i] as ChainGateway;
          const ready = await fetch(`${gw.url}/ready`)
            .then((r) => r.status === 200)
            .catch(() => false);
          const listed = await admin('GET', '/nodes', undefined, i)
            .then(async (r) => ((await r.json()) as { nodes?: { nodeId: string; state: string }[] }).nodes ?? [])
            .catch(() => []);
          const available = listed.filter((n) => n.state === 'available').length;
          if (!ready || available !== Object.keys(nodes).length)
            missing = `${gw.id}: ready=${ready} nodes=${JSON.stringify(listed)}`;
        }
        if (missing === '') return;
        if (Date.now() > until)
          throw new Error(`chain not ready: ${missing}\n${gateways.map((g) => g.svc.output()).join('\n')}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      const all = [
        ...gateways.map((g) => g.svc),
        ...Object.values(nodes).map((n) => n.svc),
        ...(chain.worker ? [chain.worker] : []),
      ];
      for (const svc of all) svc.proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.all(all.map((svc) => svc.exited())),
        new Promise((r) => (timer = setTimeout(r, 8_000))),
      ]);
      clearTimeout(timer);
      for (const svc of all) svc.kill();
      await edge?.stop();
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
      // The chain's keys (enrolments, keys, usage, the queue) go with it.
      const redis = new Redis(opts.redisUrl, { lazyConnect: true });
      await deleteKeys(redis, prefix).finally(() => redis.disconnect());
    },
  };
  if (opts.worker) await startWorker();
  return chain;
}

/** A Claude Code–shaped request: its headers and a body of about `bytes` with system blocks, tools, history and thinking. */
export function claudeCodeRequest(opts: { sessionId: string; bytes?: number; key: string }): {
  headers: Record<string, string>;
  body: string;
} {
  const filler = 'x'.repeat(1_000);
  const history: unknown[] = [];
  const target = opts.bytes ?? 50_000;
  for (let i = 0; JSON.stringify(history).length < target - 6_000; i++) {
    history.push({ role: 'user', content: [{ type: 'text', text: `turn ${i} ${filler}` }] });
    history.push({ role: 'assistant', content: [{ type: 'text', text: `reply ${i} ${filler}` }] });
  }
  history.push({ role: 'user', content: [{ type: 'text', text: 'say hi', cache_control: { type: 'ephemeral' } }] });
  const body = {
    model: 'claude-sonnet-4-6',
    max_tokens: 32_000,
    stream: true,
    thinking: { type: 'adaptive' },
    system: [
      { type: 'text', text: 'x-anthropic-billing-header: cc_version=2.1.0; cc_entrypoint=cli' },
      { type: 'text', text: 'You are Claude Code, a CLI for Claude.', cache_control: { type: 'ephemeral' } },
    ],
    tools: [
      {
        name: 'Bash',
        description: 'Run a command',
        input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] },
      },
    ],
    messages: history,
    metadata: { user_id: JSON.stringify({ device_id: 'a'.repeat(64), account_uuid: '', session_id: opts.sessionId }) },
  };
  return {
    body: JSON.stringify(body),
    headers: {
      authorization: `Bearer ${opts.key}`,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'anthropic-beta': 'claude-code-20250219,interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14',
      'user-agent': 'claude-cli/2.1.0 (external, cli)',
      'x-app': 'cli',
      'x-claude-code-session-id': opts.sessionId,
      'x-stainless-lang': 'js',
      'x-stainless-retry-count': '0',
    },
  };
}
