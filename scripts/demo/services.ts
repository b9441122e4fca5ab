// The demo's Switchyard processes (two node-agents, the gateway, the usage worker) and the wait until
// they serve: the gateway answers /ready, lists every node as available, and the worker is ready.
import { join } from 'node:path';
import { freePort } from '@switchyard/shared/testing';
import { tsEntry, type Child, type Children } from './children.js';
import { DemoError } from './demo-error.js';

/** One demo node and the account it holds. */
export interface DemoNode {
  nodeId: string;
  accountId: string;
  email: string;
}

export interface ServicesInput {
  children: Children;
  nodes: DemoNode[];
  /** REDIS_URL, REDIS_PREFIX, log settings: what every process gets. */
  common: Record<string, string>;
  fakeUrl: string;
  refreshToken(accountId: string): string;
  gatewayPort: number;
  adminToken: string;
  sharedSecret: string;
  /** Credential mirrors and the usage spool go here. */
  workDir: string;
}

export interface Services {
  gatewayUrl: string;
  /** The worker's /metrics (its own listener; the admin token guards it, as it guards the gateway's). */
  workerMetricsUrl: string;
  gateway: Child;
  worker: Child;
}

/** Starts the processes; does not wait for them. */
export async function startServices(s: ServicesInput): Promise<Services> {
  for (const n of s.nodes) {
    const port = await freePort();
    s.children.start({
      name: `node ${n.nodeId}`,
      ...tsEntry('node-agent/src/main.ts'),
      env: {
        ...s.common,
        NODE_ID: n.nodeId,
        HOST: '127.0.0.1',
        PORT: String(port),
        NODE_PUBLIC_URL: `http://127.0.0.1:${port}`,
        NODE_SHARED_SECRET: s.sharedSecret,
        ANTHROPIC_BASE_URL: s.fakeUrl,
        ANTHROPIC_OAUTH_TOKEN_URL: `${s.fakeUrl}/v1/oauth/token`,
        CLAUDE_REFRESH_TOKEN: s.refreshToken(n.accountId),
        CREDENTIALS_DIR: join(s.workDir, `credentials-${n.nodeId}`),
        HEARTBEAT_INTERVAL_MS: '1000',
        DRAIN_TIMEOUT_MS: '5000',
        METRICS_TOKEN: s.adminToken,
      },
    });
  }
  const gateway = s.children.start({
    name: 'gateway',
    ...tsEntry('gateway/src/main.ts'),
    env: {
      ...s.common,
      HOST: '127.0.0.1',
      PORT: String(s.gatewayPort),
      ADMIN_TOKEN: s.adminToken,
      NODE_SHARED_SECRET: s.sharedSecret,
      DRAIN_TIMEOUT_MS: '5000',
      USAGE_SPOOL_DIR: join(s.workDir, 'usage-spool'),
    },
  });
  const workerMetricsPort = await freePort();
  const worker = s.children.start({
    name: 'usage-worker',
    ...tsEntry('gateway/src/usage-worker/main.ts'),
    env: { ...s.common, HOST: '127.0.0.1', METRICS_PORT: String(workerMetricsPort), METRICS_TOKEN: s.adminToken, WORKER_CLOSE_TIMEOUT_MS: '3000' },
  });
  return { gatewayUrl: `http://127.0.0.1:${s.gatewayPort}`, workerMetricsUrl: `http://127.0.0.1:${workerMetricsPort}/metrics`, gateway, worker };
}

/** A call to the gateway's admin API with the admin token. */
export function adminRequest(gatewayUrl: string, adminToken: string, method: string, path: string, body?: unknown): Promise<Response> {
  return fetch(`${gatewayUrl}/admin${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Polls until everything serves; returns false if `stopped()` turned true meanwhile, throws DemoError after `timeoutMs`. */
export async function waitReady(o: { services: Services; adminToken: string; nodes: DemoNode[]; logDir: string; timeoutMs: number; stopped(): boolean }): Promise<boolean> {
  const { gatewayUrl, gateway, worker } = o.services;
  let workerReady = false;
  void worker.lineSeen(/worker ready/).then(() => (workerReady = true));
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (o.stopped()) return false;
    const ready = await fetch(`${gatewayUrl}/ready`).then((r) => r.status === 200, () => false);
    const listed = ready
      ? await adminRequest(gatewayUrl, o.adminToken, 'GET', '/nodes').then(
          async (r) => ((await r.json()) as { nodes?: { nodeId: string; state: string }[] }).nodes ?? [],
          () => [],
        )
      : [];
    const available = o.nodes.every((n) => listed.some((x) => x.nodeId === n.nodeId && x.state === 'available'));
    if (ready && available && workerReady) return true;
    if (Date.now() > deadline) {
      const waiting = [!ready && 'the gateway', !available && 'both nodes listed as available', !workerReady && 'the usage worker'].filter(Boolean).join(', ');
      throw new DemoError(
        `switchyard demo: not ready after ${o.timeoutMs / 1000} s (waiting for ${waiting}); see the logs in ${o.logDir} (last gateway lines: ${gateway.tail(3).join(' / ')})`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
