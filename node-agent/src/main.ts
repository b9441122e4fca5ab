// The node-agent's composition root: config → store → egress → account → state, gate, heartbeat → HTTP server.
// SIGTERM drains: marked draining in the registry, no new requests, in-flight streams finish (up to
// DRAIN_TIMEOUT_MS), a running refresh finishes storing, the registry entry is removed, exit 0.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createKeyspace, createLogger, readPackageVersion, type Logger } from '@switchyard/shared';
import { createNodeApp } from './app.js';
import { loadNodeConfig, type NodeConfig } from './config.js';
import { connectStore } from './connect-store.js';
import { CredentialError, createAccountAuth } from './credentials/index.js';
import { createAccountStateHolder } from './fleet/account-state.js';
import { createDrainGate } from './fleet/drain.js';
import { createHeartbeat } from './fleet/heartbeat.js';
import { createEgress } from './upstream/egress.js';

const VERSION = readPackageVersion(fileURLToPath(new URL('../package.json', import.meta.url))) ?? 'unknown';

async function main(config: NodeConfig, log: Logger): Promise<void> {
  const startedAt = Date.now();
  const store = connectStore(config, log);
  const keys = createKeyspace(config.REDIS_PREFIX);
  const egress = createEgress({
    ...(config.EGRESS_LOCAL_ADDRESS === undefined ? {} : { localAddress: config.EGRESS_LOCAL_ADDRESS }),
    ...(config.EGRESS_PROXY_URL === undefined ? {} : { proxyUrl: config.EGRESS_PROXY_URL }),
  });

  // 1. The account: API key, or OAuth from the newest credential source.
  const auth = await createAccountAuth({ config, store, keys, egress, log });
  const account = createAccountStateHolder({ log });
  auth.onStatusChange((s) => (s === 'needs_login' ? account.setNeedsLogin() : account.setOk()));
  if (auth.status() === 'needs_login') account.setNeedsLogin();

  // 2. Joining the fleet.
  const gate = createDrainGate();
  const heartbeat = createHeartbeat({
    store,
    keys,
    intervalMs: config.HEARTBEAT_INTERVAL_MS,
    log,
    record: () => {
      const label = auth.label();
      return {
        nodeId: config.NODE_ID,
        url: config.NODE_PUBLIC_URL,
        accountKind: auth.kind,
        ...(label === undefined ? {} : { accountLabel: label }),
        state: account.current(),
        inFlight: gate.inFlight,
        version: VERSION,
        gitSha: config.GIT_SHA,
        startedAt,
        heartbeatAt: Date.now(),
      };
    },
  });
  account.onChange(() => void heartbeat.beatNow());

  // 3. The HTTP surface the gateway talks to.
  const app = createNodeApp({
    nodeId: config.NODE_ID,
    sharedSecret: config.NODE_SHARED_SECRET,
    anthropicBaseUrl: new URL(config.ANTHROPIC_BASE_URL),
    maxBodyBytes: config.MAX_BODY_BYTES,
    egress,
    auth,
    gate,
    log,
    onUpstreamResponse: (status, headers, model) => account.applyResponse(status, headers, model),
    health: () => ({ status: 'ok', nodeId: config.NODE_ID, version: VERSION, gitSha: config.GIT_SHA, state: account.current().state, inFlight: gate.inFlight }),
  });
  const server = http.createServer(app);
  // Longer than the gateway agent's idle timeout, so the gateway never reuses a socket the node just closed.
  server.keepAliveTimeout = 75_000;
  server.headersTimeout = 80_000;

  await auth.start();
  await new Promise<void>((resolve) => server.listen(config.PORT, config.HOST, resolve));
  heartbeat.start();
  log.info('node-agent started', {
    nodeId: config.NODE_ID,
    publicUrl: config.NODE_PUBLIC_URL,
    listen: `${config.HOST}:${config.PORT}`,
    account: auth.kind,
    accountLabel: auth.label(),
    accountStatus: auth.status(),
    upstream: config.ANTHROPIC_BASE_URL,
    egress: egress.describe(),
    store: config.UPSTASH_REDIS_REST_URL === undefined ? 'redis' : 'upstash',
    version: VERSION,
    gitSha: config.GIT_SHA,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('draining', { signal, inFlight: gate.inFlight, timeoutMs: config.DRAIN_TIMEOUT_MS });
    const drained = gate.drain(config.DRAIN_TIMEOUT_MS);
    account.setDraining();
    await heartbeat.beatNow();
    server.close();
    server.closeIdleConnections();
    const { timedOut } = await drained;
    await auth.stop();
    await heartbeat.leave();
    await store.close();
    egress.destroy();
    log.info('stopped', { timedOut, inFlight: gate.inFlight });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

const config = loadNodeConfig();
const log = createLogger({ service: 'node-agent', level: config.LOG_LEVEL, format: config.LOG_FORMAT });
main(config, log).catch((err: unknown) => {
  if (err instanceof CredentialError) log.error('cannot start: no usable account', { reason: err.message });
  else log.error('cannot start', { err });
  process.exit(1);
});
