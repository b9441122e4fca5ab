// The node-agent's composition root: config → store → egress → account → state, gate, heartbeat → HTTP server.
// SIGTERM drains: marked draining in the registry, no new requests, in-flight streams finish (up to
// DRAIN_TIMEOUT_MS), a running refresh finishes storing, the registry entry is removed, exit 0.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import {
  createKeyspace,
  createLogger,
  createMetricsHandler,
  describeMetrics,
  metricsOnlyListener,
  planMetrics,
  readPackageVersion,
  redactedUrl,
  withDeadline,
  type Logger,
  type SharedStore,
} from '@switchyard/shared';
import { createNodeApp } from './app.js';
import { loadNodeConfig, type NodeConfig } from './config.js';
import { connectStore } from './connect-store.js';
import { CredentialError, createAccountAuth } from './credentials/index.js';
import { createAccountStateHolder } from './fleet/account-state.js';
import { createDrainGate } from './fleet/drain.js';
import { createHeartbeat } from './fleet/heartbeat.js';
import { createNodeMetrics } from './metrics/index.js';
import { createEgress } from './upstream/egress.js';

const VERSION = readPackageVersion(fileURLToPath(new URL('../package.json', import.meta.url))) ?? 'unknown';

/** A reason not to start that the operator can fix: printed as it is, with the fix, without a stack. */
class StartupRefusal extends Error {
  override readonly name = 'StartupRefusal';
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(message);
  }
}

function storeDescription(config: NodeConfig): string {
  if (config.UPSTASH_REDIS_REST_URL !== undefined) return `upstash ${redactedUrl(config.UPSTASH_REDIS_REST_URL)}`;
  return `redis ${redactedUrl(config.REDIS_URL ?? 'redis://127.0.0.1:6379')}${config.REDIS_URL === undefined ? ' (REDIS_URL not set: the default)' : ''}`;
}

/** An OAuth node reads and stores its login in the store, so it cannot start without it; say so plainly. */
async function requireStore(config: NodeConfig, store: SharedStore): Promise<void> {
  if (config.ANTHROPIC_API_KEY !== undefined) return;
  const reachable = await withDeadline(store.ping(), 5_000, 'store ping').then(
    () => true,
    () => false,
  );
  if (reachable) return;
  const noAccount = config.CLAUDE_REFRESH_TOKEN === undefined && config.CLAUDE_CREDENTIALS_FILE === undefined;
  throw new StartupRefusal(
    `the store is unreachable (${storeDescription(config)}); an OAuth node keeps its login there` +
      (noAccount ? ', and no account is set in the environment (ANTHROPIC_API_KEY, CLAUDE_REFRESH_TOKEN or CLAUDE_CREDENTIALS_FILE)' : ''),
    'start Redis there, or set REDIS_URL (or UPSTASH_REDIS_REST_URL with UPSTASH_REDIS_REST_TOKEN) to a reachable one' +
      (noAccount ? '; then set ANTHROPIC_API_KEY, CLAUDE_REFRESH_TOKEN or CLAUDE_CREDENTIALS_FILE, or run the node-agent login command' : ''),
  );
}

function listen(server: http.Server, port: number, host: string, variable: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new StartupRefusal(`cannot listen on ${host}:${port} (${err.code ?? err.message})`, `set ${variable} (and HOST) to a free address`)),
    );
    server.listen(port, host, resolve);
  });
}

async function main(config: NodeConfig, log: Logger): Promise<void> {
  const startedAt = Date.now();
  const store = connectStore(config, log);
  const keys = createKeyspace(config.REDIS_PREFIX);
  const egress = createEgress({
    ...(config.EGRESS_LOCAL_ADDRESS === undefined ? {} : { localAddress: config.EGRESS_LOCAL_ADDRESS }),
    ...(config.EGRESS_PROXY_URL === undefined ? {} : { proxyUrl: config.EGRESS_PROXY_URL }),
  });

  // 1. The account: API key, or OAuth from the newest credential source.
  await requireStore(config, store);
  const account = createAccountStateHolder({ log });
  const gate = createDrainGate();
  const metrics = createNodeMetrics({
    nodeId: config.NODE_ID,
    accountKind: config.ANTHROPIC_API_KEY === undefined ? 'oauth' : 'api_key',
    version: VERSION,
    gitSha: config.GIT_SHA,
    account,
    gate,
    now: Date.now,
  });
  const auth = await createAccountAuth({ config, store, keys, egress, log, onRefreshOutcome: (outcome) => metrics.refresh(outcome) });
  auth.onStatusChange((s) => (s === 'needs_login' ? account.setNeedsLogin() : account.setOk()));
  if (auth.status() === 'needs_login') account.setNeedsLogin();

  // 2. Joining the fleet.
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

  // 3. The HTTP surface the gateway talks to, and /metrics (on it, on a port of its own, or off).
  const exposure = planMetrics({ port: config.METRICS_PORT, token: config.METRICS_TOKEN });
  const metricsHandler =
    exposure.where === 'off'
      ? undefined
      : createMetricsHandler({
          source: metrics.registry,
          ...(exposure.token === undefined ? {} : { token: exposure.token, tokenVariable: 'METRICS_TOKEN' }),
          onError: (err) => log.error('metrics scrape failed', { err }),
        });
  const app = createNodeApp({
    nodeId: config.NODE_ID,
    sharedSecret: config.NODE_SHARED_SECRET,
    anthropicBaseUrl: new URL(config.ANTHROPIC_BASE_URL),
    maxBodyBytes: config.MAX_BODY_BYTES,
    egress,
    auth,
    gate,
    log,
    onUpstreamResponse: (status, headers, model) => {
      metrics.upstreamResponse(status, model);
      account.applyResponse(status, headers, model);
    },
    metrics,
    ...(exposure.where === 'main' && metricsHandler ? { metricsHandler } : {}),
    health: () => ({ status: 'ok', nodeId: config.NODE_ID, version: VERSION, gitSha: config.GIT_SHA, state: account.current().state, inFlight: gate.inFlight }),
  });
  const server = http.createServer(app);
  // Longer than the gateway agent's idle timeout, so the gateway never reuses a socket the node just closed.
  server.keepAliveTimeout = 75_000;
  server.headersTimeout = 80_000;

  await auth.start();
  await listen(server, config.PORT, config.HOST, 'PORT');
  let metricsServer: http.Server | undefined;
  if (exposure.where === 'own' && metricsHandler) {
    const own = http.createServer(metricsOnlyListener(metricsHandler));
    metricsServer = await listen(own, exposure.port, config.HOST, 'METRICS_PORT').then(
      () => own,
      (err: StartupRefusal) => {
        log.error('metrics listener not started', { reason: err.message, fix: 'set METRICS_PORT to a free port, or 0 to turn metrics off' });
        return undefined;
      },
    );
  }
  heartbeat.start();
  log.info('node-agent started', {
    nodeId: config.NODE_ID,
    publicUrl: config.NODE_PUBLIC_URL,
    listen: `${config.HOST}:${config.PORT}`,
    account: auth.kind,
    accountLabel: auth.label(),
    accountStatus: auth.status(),
    upstream: redactedUrl(config.ANTHROPIC_BASE_URL),
    egress: egress.describe(),
    store: storeDescription(config),
    prefix: config.REDIS_PREFIX,
    heartbeatIntervalMs: config.HEARTBEAT_INTERVAL_MS,
    metrics: exposure.where === 'own' && metricsServer === undefined ? 'off (its port could not be opened)' : describeMetrics(exposure, config.HOST, config.PORT),
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
    metricsServer?.close();
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
  else if (err instanceof StartupRefusal) log.error('cannot start', { reason: err.message, fix: err.fix });
  else log.error('cannot start', { err });
  const reason = err instanceof StartupRefusal ? `${err.message}. Fix: ${err.fix}.` : err instanceof Error ? err.message : String(err);
  process.stderr.write(`node-agent cannot start: ${reason}\n`);
  process.exit(1);
});
