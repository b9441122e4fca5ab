// The gateway's composition root: config → tracing (when on) → Redis → key auth, limits, node enrolments and
// tunnels, registry, stickiness, forwarder, usage recorder and its lag watcher → app → listen (tunnels join on the
// same port, by HTTP/1.1 Upgrade). SIGTERM: /health and /ready answer 503 draining at once (the edge proxy stops
// sending here) and new tunnels are refused, the listener stays open DRAIN_NOTICE_MS and then closes,
// in-flight streams finish (up to DRAIN_TIMEOUT_MS from the signal), the tunnels get GOAWAY, the usage
// buffer is flushed (to the queue, or the spool), the last spans are exported, exit 0.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import type { Express, Router } from 'express';
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
  type MetricsEndpoint,
  type MetricsListening,
  type PriceBook,
  type SharedStore,
  type Tracing,
  stopOnSignals,
} from '@switchyard/shared';
import { createAdminRouter } from './admin/index.js';
import {
  budgetRefusalAlerts,
  createFleetWatcher,
  createQueueAlertSink,
  type FleetWatcher,
  type QueueAlertSink,
} from './alerts/index.js';
import { createAdminApp, createApp } from './app.js';
import { loadGatewayConfig, type GatewayConfig } from './config.js';
import { createForesight, type Foresight } from './foresight/index.js';
import { BodyBudget } from './http/body-budget.js';
import { createDrainTracker, type DrainTracker } from './http/drain.js';
import type { GatewayStats } from './http/proxy-routes.js';
import { createKeyAuthenticator, type KeyAuthenticator } from './keys/index.js';
import { createKeyLimiter, type KeyLimiter } from './limits/index.js';
import { createGatewayMetrics, type GatewayMetrics } from './metrics/index.js';
import { createEnrolmentRepository, type EnrolmentRepository } from './nodes/index.js';
import { createCredentialRoutes } from './nodes/credential-routes.js';
import { createForwarder, type Forwarder } from './proxy/index.js';
import {
  availabilityOf,
  createRegistrySnapshot,
  createStickyStore,
  type RegistrySnapshot,
  type StickyStore,
} from './routing/index.js';
import { createTunnelHub, type TunnelHub } from './tunnel/index.js';
import {
  createKnownHashes,
  createLagWatcher,
  createPromptDigester,
  createQueueLagReader,
  createUsageRecorder,
  type LagWatcher,
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

/** Where the gateway keeps its state: the store (and when its connection is first up), the key names, the clock. */
interface GatewayStores {
  store: SharedStore;
  connected: Promise<void>;
  keys: Keyspace;
  now: () => number;
}

/** Who may call, and how much: key auth, the alert sink, the limiter, the prices its budgets reserve by. */
interface GatewayAccess {
  authenticator: KeyAuthenticator;
  alerts: QueueAlertSink;
  limiter: KeyLimiter;
  priceBook: PriceBook;
}

/** The nodes: their enrolments, the tunnels to them, what is known of them, stickiness, who watches them. */
interface GatewayFleet {
  enrolments: EnrolmentRepository;
  tunnels: TunnelHub;
  registry: RegistrySnapshot;
  sticky: StickyStore;
  fleetWatcher: FleetWatcher;
  foresight: Foresight;
}

/** A request's way through: the forwarder, usage and its lag, the drain, the metrics and where they are served. */
interface GatewayTraffic {
  forwarder: Forwarder;
  usage: UsageRecorder;
  readLag: QueueLagReader;
  lagWatcher: LagWatcher;
  stats: GatewayStats;
  drain: DrainTracker;
  metrics: GatewayMetrics;
  metricsEndpoint: MetricsEndpoint;
}

type GatewayServices = GatewayAccess & GatewayFleet & GatewayTraffic;

/** The proxy app, and the admin API with whether it has a listener of its own (ADMIN_PORT). */
interface GatewayApps {
  app: Express;
  adminRouter: Router;
  adminApart: boolean;
}

interface GatewayListeners {
  server: http.Server;
  adminServer: http.Server | undefined;
  metricsListening: MetricsListening;
}

/** Everything the shutdown stops. */
interface RunningGateway {
  tracing: Tracing;
  stores: GatewayStores;
  services: GatewayServices;
  listeners: GatewayListeners;
}

/** Tracing first (docs/TRACING.md): the SDK and its exporter are loaded only when an OTLP endpoint is set. */
async function startGatewayTracing(config: GatewayConfig, log: Logger): Promise<Tracing> {
  const tracing = config.tracing.enabled
    ? await startTracing({
        serviceName: 'switchyard-gateway',
        serviceVersion: VERSION,
        instanceId: config.GATEWAY_ID,
        log,
      })
    : NO_TRACING;
  if (tracing.enabled) log.info('tracing on', { collector: config.tracing.collector });
  return tracing;
}

function openStores(config: GatewayConfig, log: Logger): GatewayStores {
  const { store, connected } = connectRedis(config, log);
  const keys = createKeyspace(config.REDIS_PREFIX);
  const now = () => Date.now();
  return { store, connected, keys, now };
}

function createAccess(config: GatewayConfig, log: Logger, { store, keys }: GatewayStores): GatewayAccess {
  const authenticator = createKeyAuthenticator({ store, keys, log });
  // Where this gateway raises alerts (budget refusals, the fleet watcher, quota foresight): emit() never waits.
  const alerts = createAlertSink(config, log);
  const limiter = createKeyLimiter({ store, keys, log, onBudgetRefused: budgetRefusalAlerts(alerts) });
  // Prices for budget reservations; the worker prices what requests cost from the same data (docs/BUDGETS.md).
  const priceBook = loadPriceBook(config.PRICES_FILE === undefined ? {} : { pricesFile: config.PRICES_FILE });
  return { authenticator, alerts, limiter, priceBook };
}

function createFleet(
  config: GatewayConfig,
  log: Logger,
  { store, keys }: GatewayStores,
  alerts: QueueAlertSink,
): GatewayFleet {
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
  return { enrolments, tunnels, registry, sticky, fleetWatcher, foresight };
}

function createTraffic(
  config: GatewayConfig,
  log: Logger,
  { store, keys, now }: GatewayStores,
  { tunnels, registry }: GatewayFleet,
): GatewayTraffic {
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
  return { forwarder, usage, readLag, lagWatcher, stats, drain, metrics, metricsEndpoint };
}

/** Access (key auth, alerts, limits, prices), then the fleet (tunnels, registry, watchers), then the traffic. */
function createServices(config: GatewayConfig, log: Logger, stores: GatewayStores): GatewayServices {
  const access = createAccess(config, log, stores);
  const fleet = createFleet(config, log, stores, access.alerts);
  const traffic = createTraffic(config, log, stores, fleet);
  return { ...access, ...fleet, ...traffic };
}

function buildAdminRouter(
  config: GatewayConfig,
  log: Logger,
  { store, keys }: GatewayStores,
  { registry, enrolments, foresight, readLag }: GatewayServices,
): Router {
  return createAdminRouter({
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
}

function createApps(
  config: GatewayConfig,
  log: Logger,
  stores: GatewayStores,
  services: GatewayServices,
  tracing: Tracing,
): GatewayApps {
  const { store, keys, now } = stores;
  const { authenticator, limiter, priceBook, registry, sticky, forwarder, stats, usage, enrolments, drain } = services;
  const adminRouter = buildAdminRouter(config, log, stores, services);
  const adminApart = config.ADMIN_PORT !== undefined;
  const availableNodes = () =>
    registry.nodes().filter((n) => availabilityOf(n, now(), undefined) === 'available').length;
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
    metrics: services.metrics,
    ...(services.metricsEndpoint.onMainListener ? { metricsHandler: services.metricsEndpoint.onMainListener } : {}),
    tracing: tracing.enabled,
  });
  return { app, adminRouter, adminApart };
}

async function startServices(
  config: GatewayConfig,
  log: Logger,
  stores: GatewayStores,
  services: GatewayServices,
): Promise<void> {
  const { usage, lagWatcher, limiter, registry, tunnels, alerts, fleetWatcher, foresight } = services;
  // The first registry read needs the connection up (no offline queue): wait for it, briefly, so a normal
  // start does not log a failed read; with Redis down the gateway starts anyway and routes once it is back.
  await withDeadline(stores.connected, 3_000, 'redis connect').catch(() =>
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
}

async function openListeners(
  config: GatewayConfig,
  log: Logger,
  { drain, tunnels, metricsEndpoint }: GatewayServices,
  { app, adminRouter, adminApart }: GatewayApps,
): Promise<GatewayListeners> {
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
  return { server, adminServer, metricsListening };
}

function logStarted(
  config: GatewayConfig,
  log: Logger,
  tunnels: TunnelHub,
  adminApart: boolean,
  metrics: string,
): void {
  log.info('gateway started', {
    listen: `${config.HOST}:${config.PORT}`,
    admin: adminApart ? `${config.ADMIN_HOST}:${config.ADMIN_PORT ?? ''}` : 'on the main listener',
    adminReadToken: config.ADMIN_READ_TOKEN !== undefined,
    maxConnections: config.MAX_CONNECTIONS,
    maxInflightBodyBytes: config.MAX_INFLIGHT_BODY_BYTES,
    redis: redactedUrl(config.REDIS_URL),
    prefix: config.REDIS_PREFIX,
    metrics,
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
}

async function shutdown(config: GatewayConfig, log: Logger, gateway: RunningGateway, signal: string): Promise<void> {
  const { drain, tunnels, fleetWatcher, registry, foresight, lagWatcher, limiter, usage, alerts } = gateway.services;
  const { server, adminServer, metricsListening } = gateway.listeners;
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
  await gateway.stores.store.close();
  // Last: the spans of the requests that just finished are exported before the exit.
  await gateway.tracing.shutdown();
  log.info('stopped', { timedOut });
  process.exit(0);
}

async function main(config: GatewayConfig, log: Logger): Promise<void> {
  // 1. Tracing, before anything that could make a span.
  const tracing = await startGatewayTracing(config, log);
  // 2. Redis and the key names.
  const stores = openStores(config, log);
  // 3. The services: access (keys, alerts, limits, prices), the fleet (tunnels, registry, watchers), the traffic
  //    (forwarder, usage, drain, metrics).
  const services = createServices(config, log, stores);
  // 4. The apps: the proxy, and the admin API (on the main listener unless ADMIN_PORT is set).
  const apps = createApps(config, log, stores, services, tracing);
  // 5. Start the services (once Redis is up, or after a short wait for it), then the listeners.
  await startServices(config, log, stores, services);
  const listeners = await openListeners(config, log, services, apps);
  logStarted(config, log, services.tunnels, apps.adminApart, listeners.metricsListening.description);
  // 6. Shutdown on SIGTERM/SIGINT: drain, GOAWAY to the tunnels, the usage flush, tracing last.
  stopOnSignals((signal) => shutdown(config, log, { tracing, stores, services, listeners }, signal));
}

const config = loadGatewayConfig();
const log = createLogger({ service: 'gateway', level: config.LOG_LEVEL, format: config.LOG_FORMAT });
main(config, log).catch((err: unknown) => {
  log.error('cannot start', { err });
  process.stderr.write(`gateway cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
