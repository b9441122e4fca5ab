// Test-only: the whole chain as operators run it — a gateway process, two node-agent processes, the
// fake Anthropic upstream — on loopback, against a real Redis under a private key prefix.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { createFakeAnthropic, deleteKeys, freePort, spawnService, uniquePrefix, type FakeAnthropic, type SpawnedService, type Timing } from '@switchyard/shared/testing';

export interface Chain {
  gatewayUrl: string;
  adminToken: string;
  prefix: string;
  fake: FakeAnthropic;
  gateway: SpawnedService;
  nodes: Record<string, { svc: SpawnedService; url: string; accountId: string }>;
  /** The usage worker process, when the chain was started with `worker: true` (replaced by startWorker()). */
  worker: SpawnedService | undefined;
  /** Where the gateway spools usage jobs it cannot enqueue. */
  spoolDir: string;
  /** Starts a (new) usage worker process against the chain's Redis and prefix; resolves once it is ready. */
  startWorker(env?: Record<string, string>): Promise<SpawnedService>;
  /** Creates a gateway key through the admin API. */
  createKey(body?: Record<string, unknown>): Promise<{ key: string; id: string }>;
  admin(method: string, path: string, body?: unknown): Promise<Response>;
  /** Waits until /ready says ready and every node is in /admin/nodes. */
  waitReady(): Promise<void>;
  /** Stops every process and deletes the chain's Redis keys. */
  stop(): Promise<void>;
}

export interface ChainOptions {
  redisUrl: string;
  gatewayEnv?: Record<string, string>;
  /** Environment added to every node-agent's. */
  nodeEnv?: Record<string, string>;
  nodeIds?: string[];
  /** Also start the usage worker (environment added to its defaults). */
  worker?: boolean | Record<string, string>;
  fakeTiming?: Partial<Timing>;
}

export async function startChain(opts: ChainOptions): Promise<Chain> {
  const nodeIds = opts.nodeIds ?? ['node-a', 'node-b'];
  const fake = createFakeAnthropic({ accounts: nodeIds.map((id) => ({ id: `acct-${id}`, email: `${id}@example.test` })) });
  if (opts.fakeTiming) fake.setTiming(opts.fakeTiming);
  await fake.start();
  const prefix = uniquePrefix('chain');
  const secret = randomBytes(32).toString('hex');
  const adminToken = randomBytes(32).toString('hex');
  const dir = mkdtempSync(join(tmpdir(), 'sy-chain-'));
  const spoolDir = join(dir, 'usage-spool');
  const nodes: Chain['nodes'] = {};
  for (const nodeId of nodeIds) {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const svc = spawnService('node-agent/src/main.ts', {
      REDIS_URL: opts.redisUrl,
      REDIS_PREFIX: prefix,
      NODE_ID: nodeId,
      NODE_PUBLIC_URL: url,
      PORT: String(port),
      HOST: '127.0.0.1',
      NODE_SHARED_SECRET: secret,
      ANTHROPIC_BASE_URL: fake.url,
      ANTHROPIC_OAUTH_TOKEN_URL: `${fake.url}/v1/oauth/token`,
      CLAUDE_REFRESH_TOKEN: fake.issueRefreshToken(`acct-${nodeId}`),
      CREDENTIALS_DIR: dir,
      HEARTBEAT_INTERVAL_MS: '250',
      DRAIN_TIMEOUT_MS: '5000',
      ...opts.nodeEnv,
    });
    nodes[nodeId] = { svc, url, accountId: `acct-${nodeId}` };
  }
  const gwPort = await freePort();
  const gatewayUrl = `http://127.0.0.1:${gwPort}`;
  const gateway = spawnService('gateway/src/main.ts', {
    REDIS_URL: opts.redisUrl,
    REDIS_PREFIX: prefix,
    PORT: String(gwPort),
    HOST: '127.0.0.1',
    ADMIN_TOKEN: adminToken,
    NODE_SHARED_SECRET: secret,
    DRAIN_TIMEOUT_MS: '5000',
    USAGE_SPOOL_DIR: spoolDir,
    ...opts.gatewayEnv,
  });
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
  await Promise.all([gateway.waitForOutput(/gateway started/), ...Object.values(nodes).map((n) => n.svc.waitForOutput(/node-agent started/))]);

  const admin = (method: string, path: string, body?: unknown) =>
    fetch(`${gatewayUrl}/admin${path}`, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  const chain: Chain = {
    gatewayUrl,
    adminToken,
    prefix,
    fake,
    gateway,
    nodes,
    worker: undefined,
    spoolDir,
    startWorker,
    admin,
    async createKey(body = {}) {
      const res = await admin('POST', '/keys', { name: `test-${randomBytes(3).toString('hex')}`, ...body });
      if (res.status !== 201) throw new Error(`key creation failed: ${res.status} ${await res.text()}`);
      const json = (await res.json()) as { key: string; record: { id: string } };
      return { key: json.key, id: json.record.id };
    },
    async waitReady() {
      const until = Date.now() + 15_000;
      for (;;) {
        const ready = await fetch(`${gatewayUrl}/ready`).then((r) => r.status === 200).catch(() => false);
        const listed = await admin('GET', '/nodes')
          .then(async (r) => ((await r.json()) as { nodes?: { nodeId: string; state: string }[] }).nodes ?? [])
          .catch(() => []);
        const available = listed.filter((n) => n.state === 'available').length;
        if (ready && available === nodeIds.length) return;
        if (Date.now() > until) throw new Error(`chain not ready: ready=${ready} nodes=${JSON.stringify(listed)}\n${gateway.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async stop() {
      const all = [gateway, ...Object.values(nodes).map((n) => n.svc), ...(chain.worker ? [chain.worker] : [])];
      for (const svc of all) svc.proc.kill('SIGTERM');
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(all.map((svc) => svc.exited())), new Promise((r) => (timer = setTimeout(r, 8_000)))]);
      clearTimeout(timer);
      for (const svc of all) svc.kill();
      await fake.stop();
      rmSync(dir, { recursive: true, force: true });
      // The chain's keys (registry, keys, usage, the queue) go with it.
      const redis = new Redis(opts.redisUrl, { lazyConnect: true });
      await deleteKeys(redis, prefix).finally(() => redis.disconnect());
    },
  };
  if (opts.worker) await startWorker();
  return chain;
}

/** A Claude Code–shaped request: its headers and a body of about `bytes` with system blocks, tools, history and thinking. */
export function claudeCodeRequest(opts: { sessionId: string; bytes?: number; key: string }): { headers: Record<string, string>; body: string } {
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
    tools: [{ name: 'Bash', description: 'Run a command', input_schema: { type: 'object', properties: { command: { type: 'string' } }, required: ['command'] } }],
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
