// The gateway's composition root: config → Redis → key auth, limits, registry, stickiness, forwarder,
// usage recorder → app → listen. SIGTERM: stop accepting connections, let in-flight streams finish (up to
// DRAIN_TIMEOUT_MS), flush the usage buffer (to the queue, or the spool), close, exit 0.
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { Queue } from 'bullmq';
import {
  JobCatalog,
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createLogger,
  queuePrefix,
  readPackageVersion,
  redactedUrl,
  type Keyspace,
  type Logger,
  type SharedStore,
} from '@switchyard/shared';
import { createAdminRouter } from './admin/index.js';
import { createApp } from './app.js';
import { loadGatewayConfig, type GatewayConfig } from './config.js';
import type { GatewayStats } from './http/proxy-routes.js';
import { createKeyAuthenticator } from './keys/index.js';
import { createKeyLimiter } from './limits/index.js';
import { createForwarder } from './proxy/index.js';
import { availabilityOf, createRegistrySnapshot, createStickyStore } from './routing/index.js';
import { createKnownHashes, createPromptDigester, createUsageRecorder, type UsageRecorder } from './usage/index.js';

const VERSION = readPackageVersion(fileURLToPath(new URL('../package.json', import.meta.url))) ?? 'unknown';

function connectRedis(config: GatewayConfig, log: Logger): SharedStore {
  // No offline queue: while Redis is away, commands fail at once and every caller falls back to its
  // local state, so no request waits on a reconnect.
  const client = createIoRedisClient(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: 'gateway' });
  let down = false;
  client.on('error', (err: NodeJS.ErrnoException) => {
    if (!down) log.warn('redis unreachable', { errorCode: err.code, reason: err.message });
    down = true;
  });
  client.on('ready', () => {
    if (down) log.info('redis reachable again');
    down = false;
  });
  return createIoRedisStore(client);
}

/**
 * The usage producer: its own connection without an offline queue (an add fails at once while Redis is
 * away, and the job goes to the spool), a BullMQ Queue on it, and the recorder that never lets a
 * request wait on either.
 */
function createUsage(config: GatewayConfig, store: SharedStore, keys: Keyspace, log: Logger): UsageRecorder {
  const connection = createIoRedisClient(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectionName: 'gateway-usage' });
  // The store's connection already logs the outage; this one only must not crash the process.
  connection.on('error', () => undefined);
  const queue = new Queue(JobCatalog.usage.queue, { connection, prefix: queuePrefix(config.REDIS_PREFIX) });
  queue.on('error', () => undefined);
  const digester = createPromptDigester({ mget: (k) => store.mget(k), keys, encoding: config.TOKEN_ENCODING, known: createKnownHashes(), now: Date.now });
  return createUsageRecorder({ queue, connection, digester, spoolDir: config.USAGE_SPOOL_DIR, bufferMax: config.USAGE_BUFFER_MAX, log });
}

async function pingWithin(store: SharedStore, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  const ping = store.ping().then(
    () => true,
    () => false,
  );
  const ok = await Promise.race([ping, timeout]);
  clearTimeout(timer);
  return ok;
}

async function main(config: GatewayConfig, log: Logger): Promise<void> {
  const store = connectRedis(config, log);
  const keys = createKeyspace(config.REDIS_PREFIX);
  const now = () => Date.now();

  const authenticator = createKeyAuthenticator({ store, keys, log });
  const limiter = createKeyLimiter({ store, keys, log });
  const registry = createRegistrySnapshot({ store, keys, log });
  const sticky = createStickyStore({ store, keys, log });
  const forwarder = createForwarder({
    sharedSecret: config.NODE_SHARED_SECRET,
    log,
    onNodeResponse: (nodeId, status, headers, model) => registry.observe(nodeId, status, headers, model),
    onNodeUnreachable: (nodeId) => registry.markUnreachable(nodeId),
  });
  const usage = createUsage(config, store, keys, log);
  const stats: GatewayStats = { requestsWithoutThinking: 0 };
  const availableNodes = () => registry.nodes().filter((n) => availabilityOf(n, now(), undefined) === 'available').length;

  const app = createApp({
    authenticator,
    limiter,
    registry,
    sticky,
    forwarder,
    maxBodyBytes: config.MAX_BODY_BYTES,
    log,
    stats,
    usage,
    now,
    adminRouter: createAdminRouter({ store, keys, adminToken: config.ADMIN_TOKEN, registry, log }),
    readiness: async () => ({ redis: await pingWithin(store, 500), availableNodes: availableNodes() }),
    version: VERSION,
    gitSha: config.GIT_SHA,
  });

  await usage.start();
  limiter.start();
  registry.start();
  await registry.refreshNow().catch(() => undefined);
  const server = http.createServer(app);
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 70_000;
  await new Promise<void>((resolve) => server.listen(config.PORT, config.HOST, resolve));
  log.info('gateway started', {
    listen: `${config.HOST}:${config.PORT}`,
    redis: redactedUrl(config.REDIS_URL),
    prefix: config.REDIS_PREFIX,
    maxBodyBytes: config.MAX_BODY_BYTES,
    usageSpool: config.USAGE_SPOOL_DIR,
    tokenEncoding: config.TOKEN_ENCODING,
    nodes: registry.nodes().map((n) => n.record.nodeId),
    version: VERSION,
    gitSha: config.GIT_SHA,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('draining', { signal, timeoutMs: config.DRAIN_TIMEOUT_MS });
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const timedOut = await Promise.race([closed.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), config.DRAIN_TIMEOUT_MS).unref())]);
    if (timedOut) server.closeAllConnections();
    registry.stop();
    await limiter.stop();
    forwarder.close();
    // Every request that ended has its draft in the buffer: enqueue or spool all of them before exiting.
    await usage.stop();
    await store.close();
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
  process.exit(1);
});
