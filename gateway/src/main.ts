// The gateway's composition root: config → tracing (when on) → Redis → key auth, limits, node enrolments and
// tunnels, registry, stickiness, forwarder, usage recorder and its lag watcher → app → listen (tunnels join on the
// same port, by HTTP/1.1 Upgrade). SIGTERM: /health and /ready answer 503 draining at once (the edge proxy stops
// sending here) and new tunnels are refused, the listener stays open DRAIN_NOTICE_MS and then closes,
// in-flight streams finish (up to DRAIN_TIMEOUT_MS from the signal), the tunnels get GOAWAY, the usage
// buffer is flushed (to the queue, or the spool), the last spans are exported, exit 0.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import {
  JobCatalog,
  loadPriceBook,
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createLogger,
  createMetricsEndpoint,
  createRedisHealthWatch,
  queuePrefix,
  readPackageVersion,
  redactedUrl,
  startMetricsListener,
  startTracing,
  NO_TRACING,
  withDeadline,
  type Keyspace,
  type Logger,
  type SharedStore,
} from '@switchyard/shared';
import { createAdminRouter } from './admin/index.js';
import { budgetRefusalAlerts, createFleetWatcher, createQueueAlertSink, type QueueAlertSink } from './alerts/index.js';
import { createAdminApp, createApp } from './app.js';
import { loadGatewayConfig, type GatewayConfig } from './config.js';
import { createForesight } from './foresight/index.js';
import { BodyBudget } from './http/body-budget.js';
import { createDrainTracker } from './http/drain.js';
import type { GatewayStats } from './http/proxy-routes.js';
import { createKeyAuthenticator } from './keys/index.js';
import { createKeyLimiter } from './limits/index.js';
import { createGatewayMetrics } from './metrics/index.js';
import { createEnrolmentRepository } from './nodes/index.js';
import { createCredentialRoutes } from './nodes/credential-routes.js';
import { createForwarder } from './proxy/index.js';
import { availabilityOf, createRegistrySnapshot, createStickyStore } from './routing/index.js';
import { createTunnelHub } from './tunnel/index.js';
import {
  createKnownHashes,
  createLagWatcher,
  createPromptDigester,
  createQueueLagReader,
  createUsageRecorder,
  type QueueLagReader,
  type UsageRecorder,
} from './usage/index.js';

const VERSION = readPackageVersion(fileURLToPath(new URL('../package.json', import.meta.url))) ?? 'unknown';

/** The store, and a promise that settles once the connection is first ready (never rejects). */
function connectRedis(config: GatewayConfig, log: Logger): { store: SharedStore; connected: Promise<void> } {
  // No offline queue: while Redis is away, commands fail at once and every caller falls back to its
  // local state, so no request waits on a reconnect.
  const client = createIoRedisClient(config.REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: 'gateway',
  });
  createRedisHealthWatch({ client, log }).start();
  const connected = new Promise<void>((resolve) => client.once('ready', () => resolve()));
  return { store: createIoRedisStore(client), connected };
}

/**
 * The usage producer: its own connection without an offline queue (an add fails at once while Redis is
 * away, and the job goes to the spool), a BullMQ Queue on it, and the recorder that never lets a
 * request wait on either. The same Queue answers how far the usage worker lags behind.
 */
function createUsage(
  config: GatewayConfig,
  store: SharedStore,
  keys: Keyspace,
  log: Logger,
  now: () => number,
): { recorder: UsageRecorder; readLag: QueueLagReader } {
  const connection = createIoRedisClient(config.REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: 'gateway-usage',
  });
  // The store's connection already logs the outage; this one only must not crash the process.
  connection.on('error', () => undefined);
  const queue = new Queue(JobCatalog.usage.queue, { connection, prefix: queuePrefix(config.REDIS_PREFIX) });
  queue.on('error', () => undefined);
  const digester = createPromptDigester({
    mget: (k) => store.mget(k),
    keys,
    encoding: config.TOKEN_ENCODING,
    known: createKnownHashes(),
  });
  return {
    recorder: createUsageRecorder({
      queue,
      connection,
      digester,
      spoolDir: config.USAGE_SPOOL_DIR,
      bufferMax: config.USAGE_BUFFER_MAX,
      log,
    }),
    readLag: createQueueLagReader({ queue, now }),
  };
}

/**
 * The alert producer of this gateway: its own connection without an offline queue (an add fails at once while
 * Redis is away, and the sink keeps the event for a retry), a Queue of 'alerts' on it. The usage worker delivers.
 */
function createAlertSink(config: GatewayConfig, log: Logger): QueueAlertSink {
  const connection = createIoRedisClient(config.REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: 'gateway-alerts',
  });
  connection.on('error', () => undefined);
  const queue = new Queue(JobCatalog.alert.queue, { connection, prefix: queuePrefix(config.REDIS_PREFIX) });
  queue.on('error', () => undefined);
  return createQueueAlertSink({ queue, log });
}

/**
 * An HTTP server with the edge's limits (docs/EDGES.md): at most MAX_CONNECTIONS open connections (node
 * tunnels included; past it new ones are closed at accept), headers within HEADERS_TIMEOUT_MS and the
 * whole request within REQUEST_TIMEOUT_MS (else 408 and close; the response may take as long as it takes),
 * idle keep-alive connections closed after KEEP_ALIVE_TIMEOUT_MS. Node checks the two request timeouts every
 * connectionsCheckingInterval, 1 s here (its default, 30 s, would let a slow header live that much longer).
 * Connections refused at the cap are logged at most once a minute, each line with the count since the last.
 */
function guardedServer(config: GatewayConfig, listener: http.RequestListener, log: Logger, name: string): http.Server {
  const server = http.createServer(
    {
      headersTimeout: config.HEADERS_TIMEOUT_MS,
      requestTimeout: config.REQUEST_TIMEOUT_MS,
      connectionsCheckingInterval: 1_000,
      keepAliveTimeout: config.KEEP_ALIVE_TIMEOUT_MS,
    },
    listener,
  );
  server.maxConnections = config.MAX_CONNECTIONS;
  let dropped = 0;
  let flush: NodeJS.Timeout | undefined;
  const report = (): void => {
    flush = undefined;
    if (dropped === 0) return;
    log.warn('connections refused at MAX_CONNECTIONS', {
      listener: name,
      maxConnections: config.MAX_CONNECTIONS,
      refusedSinceLastLine: dropped,
    });
    dropped = 0;
    // The next line no sooner than a minute from now, with whatever was refused meanwhile.
    flush = setTimeout(report, 60_000).unref();
  };
  server.on('drop', () => {
    dropped++;
    if (flush === undefined) report();
  });
  return server;
}

async function listen(server: http.Server, host: string, port: number, variables: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `cannot listen on ${host}:${port} (${err.code ?? err.message}). Fix: set ${variables} to a free address.`,
        ),
      ),
    );
    server.listen(port, host, resolve);
  });
}

async function main(config: GatewayConfig, log: Logger): Promise<void> {
  // Tracing first (docs/TRACING.md): the SDK and its exporter are loaded only when an OTLP endpoint is set.
  const tracing = config.tracing.enabled
    ? await startTracing({ serviceName: 'switchyard-gateway', serviceVersion: VERSION, log })
    : NO_TRACING;
  if (tracing.enabled) log.info('tracing on', { collector: config.tracing.collector });
  const { store, connected } = connectRedis(config, log);
  const keys = createKeyspace(config.REDIS_PREFIX);
  const now = () => Date.now();

  const authenticator = createKeyAuthenticator({ store, keys, log });
  // Where this gateway raises alerts (budget refusals, the fleet watcher, quota foresight): emit() never waits.
  const alerts = createAlertSink(config, log);
  const limiter = createKeyLimiter({ store, keys, log, onBudgetRefused: budgetRefusalAlerts(alerts) });
  // Prices for budget reservations; the worker prices what requests cost from the same data (docs/BUDGETS.md).
  const priceBook = loadPriceBook(config.PRICES_FILE === undefined ? {} : { pricesFile: config.PRICES_FILE });
  const enrolments = createEnrolmentRepository({ store, keys });
  const tunnels = createTunnelHub({
    enrolments,
    store,
    keys,
    log,
    replica: {
      id: config.GATEWAY_ID,
      ...(config.GATEWAY_REPLICA_URL === undefined ? {} : { url: config.GATEWAY_REPLICA_URL }),
    },
    pingIntervalMs: config.TUNNEL_PING_INTERVAL_MS,
    pingTimeoutMs: config.TUNNEL_PING_TIMEOUT_MS,
  });
  const registry = createRegistrySnapshot({ source: tunnels, store, keys, log });
  const sticky = createStickyStore({ store, keys, log });
  // A node that lost only its tunnel to this replica still holds its lease through another: not lost.
  const connectedElsewhere = async (nodeId: string) => ((await store.get(keys.nodeLease(nodeId))) ?? '') !== '';
  const fleetWatcher = createFleetWatcher({
    nodes: () => registry.nodes(),
    sink: alerts,
    log,
    graceMs: config.ALERT_NODE_LOST_GRACE_MS,
    connectedElsewhere,
  });
  // Quota foresight: reads the fleet's windows every 10 s (and whenever it is listed); raises fleet_exhaustion.
  const foresight = createForesight({ registry, log, alerts });
  const forwarder = createForwarder({
    agentFor: (nodeId) => tunnels.agentFor(nodeId),
    log,
    onNodeResponse: (nodeId, status, headers, model) => registry.observe(nodeId, status, headers, model),
    onNodeUnreachable: (nodeId) => registry.markUnreachable(nodeId),
    onFailover: (nodeId, reason) => metrics.failover(nodeId, reason),
  });
  const { recorder: usage, readLag } = createUsage(config, store, keys, log, now);
  // Accounting lag is reported (log, metrics, /admin/usage), never acted on: /ready does not look at it.
  const lagWatcher = createLagWatcher({ read: readLag, thresholdSeconds: config.USAGE_LAG_WARN_SECONDS, log });
  const stats: GatewayStats = { requestsWithoutThinking: 0 };
  const drain = createDrainTracker();
  const availableNodes = () =>
    registry.nodes().filter((n) => availabilityOf(n, now(), undefined) === 'available').length;
  const metrics = createGatewayMetrics({
    registry,
    forwarder,
    tunnels,
    stats,
    usage,
    queueLag: readLag,
    now,
    version: VERSION,
    gitSha: config.GIT_SHA,
  });
  const metricsEndpoint = createMetricsEndpoint({
    port: config.METRICS_PORT,
    token: config.METRICS_TOKEN,
    source: metrics.registry,
    log,
  });

  const adminRouter = createAdminRouter({
    store,
    keys,
    adminToken: config.ADMIN_TOKEN,
    readToken: config.ADMIN_READ_TOKEN,
    registry,
    enrolments,
    log,
    build: { version: VERSION, gitSha: config.GIT_SHA },
    foresight,
    queueLag: readLag,
    lagWarnSeconds: config.USAGE_LAG_WARN_SECONDS,
  });
  const adminApart = config.ADMIN_PORT !== undefined;
  const app = createApp({
    authenticator,
    limiter,
    priceBook,
    modelAliases: config.MODEL_ALIASES,
    registry,
    sticky,
    forwarder,
    maxBodyBytes: config.MAX_BODY_BYTES,
    // One key may hold a quarter of the budget (and always one whole body), so no key holder can take it all.
    bodyBudget: new BodyBudget(
      config.MAX_INFLIGHT_BODY_BYTES,
      Math.max(config.MAX_BODY_BYTES, Math.floor(config.MAX_INFLIGHT_BODY_BYTES / 4)),
    ),
    log,
    stats,
    usage,
    now,
    ...(adminApart ? {} : { adminRouter }),
    nodeRoutes: createCredentialRoutes({ store, keys, enrolments, log }),
    readiness: async () => ({
      redis: await withDeadline(store.ping(), 500, 'redis ping').then(
        () => true,
        () => false,
      ),
      availableNodes: availableNodes(),
    }),
    version: VERSION,
    gitSha: config.GIT_SHA,
    draining: () => drain.draining,
    metrics,
    ...(metricsEndpoint.onMainListener ? { metricsHandler: metricsEndpoint.onMainListener } : {}),
    tracing: tracing.enabled,
  });

  // The first registry read needs the connection up (no offline queue): wait for it, briefly, so a normal
  // start does not log a failed read; with Redis down the gateway starts anyway and routes once it is back.
  await withDeadline(connected, 3_000, 'redis connect').catch(() =>
    log.warn('redis not reachable at start; serving from local state until it is', {
      redis: redactedUrl(config.REDIS_URL),
    }),
  );
  await usage.start();
  lagWatcher.start();
  limiter.start();
  registry.start();
  await registry.refreshNow().catch(() => undefined);
  await tunnels.start();
  alerts.start();
  fleetWatcher.start();
  foresight.start();
  const server = guardedServer(
    config,
    function gatewayListener(req, res) {
      drain.track(req, res);
      app(req, res);
    },
    log,
    'main',
  );
  server.on('upgrade', tunnels.handleUpgrade);
  // `Expect: 100-continue`: the proxy routes ask for the body once the key's limits admit it (proxy-routes.ts),
  // so a refused client never sends it; every other route is told to go on at once, as Node would.
  server.on('checkContinue', function gatewayContinue(req: http.IncomingMessage, res: http.ServerResponse) {
    if (!(req.url ?? '').startsWith('/v1/messages')) res.writeContinue();
    server.emit('request', req, res);
  });
  await listen(server, config.HOST, config.PORT, 'PORT (and HOST)');
  const adminServer = adminApart
    ? guardedServer(config, createAdminApp({ adminRouter, log }), log, 'admin')
    : undefined;
  if (adminServer) await listen(adminServer, config.ADMIN_HOST, config.ADMIN_PORT ?? 0, 'ADMIN_PORT (and ADMIN_HOST)');
  const metricsListening = await startMetricsListener({
    ...metricsEndpoint,
    host: config.HOST,
    mainPort: config.PORT,
    log,
  });
  log.info('gateway started', {
    listen: `${config.HOST}:${config.PORT}`,
    admin: adminApart ? `${config.ADMIN_HOST}:${config.ADMIN_PORT ?? ''}` : 'on the main listener',
    adminReadToken: config.ADMIN_READ_TOKEN !== undefined,
    maxConnections: config.MAX_CONNECTIONS,
    maxInflightBodyBytes: config.MAX_INFLIGHT_BODY_BYTES,
    redis: redactedUrl(config.REDIS_URL),
    prefix: config.REDIS_PREFIX,
    metrics: metricsListening.description,
    maxBodyBytes: config.MAX_BODY_BYTES,
    usageSpool: config.USAGE_SPOOL_DIR,
    usageLagWarnSeconds: config.USAGE_LAG_WARN_SECONDS,
    tokenEncoding: config.TOKEN_ENCODING,
    replica: config.GATEWAY_ID,
    replicaUrl: config.GATEWAY_REPLICA_URL,
    replicas: tunnels.replicas().map((r) => r.id),
    version: VERSION,
    gitSha: config.GIT_SHA,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    const deadline = Date.now() + config.DRAIN_TIMEOUT_MS;
    // 1. Draining: the probes answer 503 and every answer closes its connection; the listener stays open for
    //    the notice period, so the edge's health check sees it and moves new requests to the other replica.
    //    New tunnels are refused (the nodes keep theirs to the other replicas); this one's stay for now.
    drain.begin();
    tunnels.drain();
    // Its nodes leave this replica now: that is no loss of theirs.
    fleetWatcher.stop();
    log.info('draining', {
      signal,
      inFlight: drain.inFlight,
      noticeMs: config.DRAIN_NOTICE_MS,
      timeoutMs: config.DRAIN_TIMEOUT_MS,
    });
    if (config.DRAIN_NOTICE_MS > 0) await new Promise((r) => setTimeout(r, config.DRAIN_NOTICE_MS));
    // 2. No new connections; the requests in flight finish (idle keep-alive sockets do not hold the exit up).
    server.close();
    server.closeIdleConnections();
    const timedOut = !(await drain.idle(Math.max(0, deadline - Date.now())));
    // 3. The tunnels: GOAWAY (whatever still runs on them gets a short grace), then every socket goes.
    await tunnels.stop();
    server.closeAllConnections();
    metricsListening.server?.close();
    adminServer?.close();
    adminServer?.closeAllConnections();
    registry.stop();
    foresight.stop();
    lagWatcher.stop();
    await limiter.stop();
    // Every request that ended has its draft in the buffer: enqueue or spool all of them before exiting.
    await usage.stop();
    await alerts.stop();
    await store.close();
    // Last: the spans of the requests that just finished are exported before the exit.
    await tracing.shutdown();
    log.info('stopped', { timedOut });
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

const config = loadGatewayConfig();
const log = createLogger({ service: 'gateway', level: config.LOG_LEVEL, format: config.LOG_FORMAT });
main(config, log).catch((err: unknown) => {
  log.error('cannot start', { err });
  process.stderr.write(`gateway cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
