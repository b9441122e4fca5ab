// The demo's Switchyard processes (the gateway, the usage worker, two node-agents that dial in) and the wait
// until they serve: the gateway answers /ready, lists every node as available, and the worker is ready.
import { join } from 'node:path';
import { freePort } from '@switchyard/testkit';
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
  /** Log settings and the build: what every process gets. */
  common: Record<string, string>;
  /** REDIS_URL and REDIS_PREFIX: only the gateway-side processes get them (nodes hold no Redis credential). */
  redis: Record<string, string>;
  fakeUrl: string;
  refreshToken(accountId: string): string;
  gatewayPort: number;
  adminToken: string;
  /** METRICS_TOKEN of the gateway and the worker (never the admin token). */
  metricsToken: string;
  /** Node credential volumes and the usage spool go here. */
  workDir: string;
}

export interface Services {
  gatewayUrl: string;
  /** The worker's /metrics (its own listener; the metrics token guards it, as it guards the gateway's). */
  workerMetricsUrl: string;
  gateway: Child;
  worker: Child;
}

/** Starts the gateway and the usage worker; does not wait for them. */
export async function startGatewaySide(s: ServicesInput): Promise<Services> {
  const gateway = s.children.start({
    name: 'gateway',
    ...tsEntry('gateway/src/main.ts'),
    env: {
      ...s.common,
      ...s.redis,
      HOST: '127.0.0.1',
      PORT: String(s.gatewayPort),
      GATEWAY_ID: 'demo-gateway',
      ADMIN_TOKEN: s.adminToken,
      METRICS_TOKEN: s.metricsToken,
      DRAIN_TIMEOUT_MS: '5000',
      USAGE_SPOOL_DIR: join(s.workDir, 'usage-spool'),
    },
  });
  const workerMetricsPort = await freePort();
  const worker = s.children.start({
    name: 'usage-worker',
    ...tsEntry('gateway/src/usage-worker/main.ts'),
    env: {
      ...s.common,
      ...s.redis,
      HOST: '127.0.0.1',
      METRICS_PORT: String(workerMetricsPort),
      METRICS_TOKEN: s.metricsToken,
      WORKER_CLOSE_TIMEOUT_MS: '3000',
    },
  });
  return {
    gatewayUrl: `http://127.0.0.1:${s.gatewayPort}`,
    workerMetricsUrl: `http://127.0.0.1:${workerMetricsPort}/metrics`,
    gateway,
    worker,
  };
}

/**
 * Enrols every node through the admin API (as `switchyard nodes add` does) and starts it with the three lines an
 * operator puts in a node's .env — GATEWAY_URL, NODE_ID, NODE_TOKEN — plus its account. Waits for the gateway first.
 */
export async function enrolAndStartNodes(
  s: ServicesInput,
  services: Services,
  o: { timeoutMs: number; stopped(): boolean },
): Promise<boolean> {
  const deadline = Date.now() + o.timeoutMs;
  while (
    !(await fetch(`${services.gatewayUrl}/health`).then(
      (r) => r.status === 200,
      () => false,
    ))
  ) {
    if (o.stopped()) return false;
    if (Date.now() > deadline)
      throw new DemoError(
        `switchyard demo: the gateway did not answer within ${o.timeoutMs / 1000} s (last lines: ${services.gateway.tail(3).join(' / ')})`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
  for (const n of s.nodes) {
    const res = await adminRequest(services.gatewayUrl, s.adminToken, 'POST', '/nodes', {
      id: n.nodeId,
      label: n.email,
    });
    if (res.status !== 201)
      throw new DemoError(`switchyard demo: enrolling ${n.nodeId} failed (${res.status}): ${await res.text()}`);
    const { token } = (await res.json()) as { token: string };
    s.children.start({
      name: `node ${n.nodeId}`,
      ...tsEntry('node-agent/src/main.ts'),
      env: {
        ...s.common,
        GATEWAY_URL: services.gatewayUrl,
        NODE_ID: n.nodeId,
        NODE_TOKEN: token,
        HOST: '127.0.0.1',
        PORT: String(await freePort()),
        ANTHROPIC_BASE_URL: s.fakeUrl,
        ANTHROPIC_OAUTH_TOKEN_URL: `${s.fakeUrl}/v1/oauth/token`,
        CLAUDE_REFRESH_TOKEN: s.refreshToken(n.accountId),
        CREDENTIALS_DIR: join(s.workDir, `credentials-${n.nodeId}`),
        DRAIN_TIMEOUT_MS: '5000',
        METRICS_TOKEN: s.adminToken,
      },
    });
  }
  return true;
}

/** A call to the gateway's admin API with the admin token. */
export function adminRequest(
  gatewayUrl: string,
  adminToken: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<Response> {
  return fetch(`${gatewayUrl}/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${adminToken}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
}

/** Polls until everything serves; returns false if `stopped()` turned true meanwhile, throws DemoError after `timeoutMs`. */
export async function waitReady(o: {
  services: Services;
  adminToken: string;
  nodes: DemoNode[];
  logDir: string;
  timeoutMs: number;
  stopped(): boolean;
}): Promise<boolean> {
  const { gatewayUrl, gateway, worker } = o.services;
  let workerReady = false;
  void worker.lineSeen(/worker ready/).then(() => (workerReady = true));
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    if (o.stopped()) return false;
    const ready = await fetch(`${gatewayUrl}/ready`).then(
      (r) => r.status === 200,
      () => false,
    );
    const listed = ready
      ? await adminRequest(gatewayUrl, o.adminToken, 'GET', '/nodes').then(
          async (r) => ((await r.json()) as { nodes?: { nodeId: string; state: string }[] }).nodes ?? [],
          () => [],
        )
      : [];
    const available = o.nodes.every((n) => listed.some((x) => x.nodeId === n.nodeId && x.state === 'available'));
    if (ready && available && workerReady) return true;
    if (Date.now() > deadline) {
      const waiting = [
        !ready && 'the gateway',
        !available && 'both nodes listed as available',
        !workerReady && 'the usage worker',
      ]
        .filter(Boolean)
        .join(', ');
      throw new DemoError(
        `switchyard demo: not ready after ${o.timeoutMs / 1000} s (waiting for ${waiting}); see the logs in ${o.logDir} (last gateway lines: ${gateway.tail(3).join(' / ')})`,
      );
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}
