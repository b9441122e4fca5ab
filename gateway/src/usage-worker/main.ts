// The usage worker's composition root: config → tracing (when on) → tokenizer (once) → Redis → handler → BullMQ
// Worker. SIGTERM/SIGINT: let active jobs finish (up to WORKER_CLOSE_TIMEOUT_MS), close Redis, export the last
// spans, exit 0. A job this process never finishes (kill -9) is recovered by the stalled check and cannot count twice.
import { hostname } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import {
  createIoRedisClient,
  createIoRedisStore,
  createKeyspace,
  createLogger,
  createRedisHealthWatch,
  createMetricsEndpoint,
  JobCatalog,
  loadPriceBook,
  NO_TRACING,
  queuePrefix,
  readPackageVersion,
  redactedUrl,
  startMetricsListener,
  startTracing,
  withDeadline,
  type JobData,
  type Keyspace,
  type Logger,
  type PriceBook,
  type RedisHealthWatch,
  type SharedStore,
  type Tracing,
  stopOnSignals,
  type StopLatch,
} from '@switchyard/shared';
import { createWorkerAlerting, type WorkerAlerting } from './alerts/alert-runtime.js';
import { loadWorkerConfig, type WorkerConfig } from './config.js';
import { createFailedJobSweep, type FailedJobSweep } from './failed-job-sweep.js';
import { createWorkerListener } from './listener.js';
import { createWorkerMetrics, type WorkerMetrics } from './metrics.js';
import { createTokenizer, type Tokenizer } from './tokenizer.js';
import { createUsageHandler, type UsageHandler, type UsageOutcome } from './usage-handler.js';
import { createUsageProcessor, requestTraceId } from './usage-processor.js';

/** How often failed jobs past their age are deleted: a failure's text outlives the age by at most this. */
const FAILED_SWEEP_INTERVAL_MS = 10 * 60_000;

const VERSION = readPackageVersion(fileURLToPath(new URL('../../package.json', import.meta.url))) ?? 'unknown';

/** The metrics, how the start line describes where they are served, and how to close their side. */
interface WorkerObservability {
  metrics: WorkerMetrics;
  exposure: string;
  close(): Promise<void>;
}

/**
 * The metrics side: its own connection without an offline queue (a scrape fails at once while Redis is
 * away instead of waiting), a Queue to read counts from, and the METRICS_PORT listener (/metrics and
 * /health). A port that cannot be opened turns metrics off with an error line; the worker still counts.
 */
async function startMetrics(config: WorkerConfig, log: Logger, stopping: () => boolean): Promise<WorkerObservability> {
  const connection = createIoRedisClient(config.REDIS_URL, {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: 'usage-worker-metrics',
  });
  // The worker's own connection reports the outage.
  connection.on('error', () => undefined);
  const queue = new Queue(JobCatalog.usage.queue, { connection, prefix: queuePrefix(config.REDIS_PREFIX) });
  queue.on('error', () => undefined);
  const metrics = createWorkerMetrics({ queue, now: Date.now, version: VERSION, gitSha: config.GIT_SHA });
  // METRICS_PORT defaults to a port of its own: the worker has no main listener.
  const endpoint = createMetricsEndpoint({
    port: config.METRICS_PORT,
    token: config.METRICS_TOKEN,
    source: metrics.registry,
    log,
  });
  const { server, description } = await startMetricsListener({
    ...endpoint,
    listener: (metricsHandler) =>
      createWorkerListener({ metrics: metricsHandler, version: VERSION, gitSha: config.GIT_SHA, stopping }),
    host: config.HOST,
    log,
  });
  return {
    metrics,
    exposure: description,
    async close() {
      server?.close();
      await queue.close().catch(() => undefined);
      connection.disconnect();
    },
  };
}

type RedisClient = ReturnType<typeof createIoRedisClient>;
type UsageWorker = Worker<JobData<'usage'>, UsageOutcome>;

/** What counting prices and measures by: the price book and the tokenizer (with how long it took to load). */
interface WorkerPricing {
  priceBook: PriceBook;
  tokenizer: Tokenizer;
  tokenizerLoadMs: number;
}

/** The worker's one connection (BullMQ's, and the store's), its outage watch, the store on it, the key names. */
interface WorkerStores {
  connection: RedisClient;
  redis: RedisHealthWatch;
  store: SharedStore;
  keys: Keyspace;
}

/** What a counted job goes through: the usage handler, and the alerting it reports to. */
interface WorkerCounting {
  alerting: WorkerAlerting;
  handler: UsageHandler;
}

/** The sweep of old failed jobs, and the Queue it cleans through. */
interface WorkerSweep {
  sweepQueue: Queue;
  sweep: FailedJobSweep;
}

/** Everything the shutdown closes. */
interface RunningWorker {
  tracing: Tracing;
  connection: RedisClient;
  worker: UsageWorker;
  sweep: WorkerSweep;
  alerting: WorkerAlerting;
  observed: WorkerObservability;
}

/** Tracing first (docs/TRACING.md): the SDK and its exporter are loaded only when an OTLP endpoint is set. */
async function startWorkerTracing(config: WorkerConfig, log: Logger): Promise<Tracing> {
  const tracing = config.tracing.enabled
    ? await startTracing({ serviceName: 'switchyard-worker', serviceVersion: VERSION, instanceId: hostname(), log })
    : NO_TRACING;
  if (tracing.enabled) log.info('tracing on', { collector: config.tracing.collector });
  return tracing;
}

async function loadPricing(config: WorkerConfig): Promise<WorkerPricing> {
  // Before the slow tokenizer load: a bad PRICES_FILE stops the start at once, naming the file and the JSON path.
  const priceBook = loadPriceBook(config.PRICES_FILE === undefined ? {} : { pricesFile: config.PRICES_FILE });
  const loadStarted = performance.now();
  const tokenizer = await createTokenizer(config.TOKEN_ENCODING);
  const tokenizerLoadMs = Math.round(performance.now() - loadStarted);
  return { priceBook, tokenizer, tokenizerLoadMs };
}

function openStores(config: WorkerConfig, log: Logger): WorkerStores {
  // maxRetriesPerRequest null: BullMQ's blocking commands must wait out a reconnect, not fail.
  const connection = createIoRedisClient(config.REDIS_URL, {
    maxRetriesPerRequest: null,
    connectionName: 'usage-worker',
  });
  const redis = createRedisHealthWatch({ client: connection, log });
  redis.start();
  // Every counting read and write goes through the store; BullMQ has the connection to itself otherwise.
  const store = createIoRedisStore(connection);
  const keys = createKeyspace(config.REDIS_PREFIX);
  return { connection, redis, store, keys };
}

function createCounting(
  config: WorkerConfig,
  log: Logger,
  { connection, store, keys }: WorkerStores,
  { priceBook, tokenizer }: WorkerPricing,
  metrics: WorkerMetrics,
): WorkerCounting {
  const alerting = createWorkerAlerting({
    connection,
    store,
    prefix: queuePrefix(config.REDIS_PREFIX),
    keys,
    urls: config.ALERT_WEBHOOK_URLS ?? [],
    secret: config.ALERT_WEBHOOK_SECRET,
    registry: metrics.registry,
    log,
    deliveryBackoffMs: config.ALERT_RETRY_DELAY_MS,
  });
  const handler = createUsageHandler({
    store,
    keys,
    tokenizer,
    encoding: config.TOKEN_ENCODING,
    ttlSeconds: config.BLOCK_TOKENS_TTL_SECONDS,
    retentionDays: config.USAGE_RETENTION_DAYS,
    tokenizerBudgetMs: config.WORKER_JOB_TOKENIZER_BUDGET_MS,
    log,
    priceBook,
    onCounted: (job, counters) => {
      metrics.counted(job, counters);
      alerting.counted(job, counters);
    },
  });
  return { alerting, handler };
}

/** The BullMQ Worker, not running yet (autorun off: runWorker starts it once everything is wired). */
function createUsageWorker(
  config: WorkerConfig,
  connection: RedisClient,
  handler: UsageHandler,
  tracing: Tracing,
): UsageWorker {
  const { queue, defaults } = JobCatalog.usage;
  const processor = createUsageProcessor({ handler, queue, tracing: tracing.enabled });
  return new Worker<JobData<'usage'>, UsageOutcome>(queue, processor, {
    connection,
    prefix: queuePrefix(config.REDIS_PREFIX),
    autorun: false,
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.WORKER_LOCK_DURATION_MS,
    stalledInterval: config.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
    // For jobs added without options (the gateway adds with the same ones): completed jobs are deleted at once
    // (`count: 0` is the worker-level form of `true`), failed ones after their age.
    removeOnComplete: { count: 0 },
    removeOnFail: defaults.removeOnFail,
  });
}

/** What the worker reports: an outage once, a lost lock as a warning, outcomes to the metrics and alerting. */
function watchWorker(
  worker: UsageWorker,
  log: Logger,
  redis: RedisHealthWatch,
  alerting: WorkerAlerting,
  metrics: WorkerMetrics,
): void {
  worker.on('error', (err) => {
    // While Redis is away every BullMQ loop fails the same way: that is the outage, logged once.
    if (redis.report(err)) return;
    // A job whose lock went with a Redis restart (or that stalled) is taken again, and its usage:done marker
    // keeps it from counting twice: worth knowing, not an error.
    if (err.message.startsWith('Missing lock for job'))
      log.warn('usage job lost its lock: it is taken again and counted once', { reason: err.message });
    else log.error('worker error', { err });
  });
  alerting.watchUsage(worker);
  worker.on('completed', (_job, outcome) => metrics.processed(outcome.counted));
  worker.on('failed', (job, err) => {
    metrics.failed(
      err instanceof UnrecoverableError || (job !== undefined && job.attemptsMade >= (job.opts.attempts ?? 1)),
    );
    log.warn('usage job failed', {
      requestId: job?.id,
      traceId: requestTraceId(job?.data),
      attempt: job?.attemptsMade,
      attempts: job?.opts.attempts,
      errorName: err.name,
      // Not `message`: winston would append it to the log line's own message.
      reason: err.message,
    });
  });
  worker.on('stalled', (jobId) => log.warn('usage job stalled', { requestId: jobId }));
}

function createSweep(config: WorkerConfig, log: Logger, connection: RedisClient): WorkerSweep {
  const { queue, defaults } = JobCatalog.usage;
  const sweepQueue = new Queue(queue, { connection, prefix: queuePrefix(config.REDIS_PREFIX) });
  sweepQueue.on('error', () => undefined);
  const sweep = createFailedJobSweep({
    queue: sweepQueue,
    maxAgeMs: defaults.removeOnFail.age * 1000,
    intervalMs: FAILED_SWEEP_INTERVAL_MS,
    log,
  });
  return { sweepQueue, sweep };
}

/** Runs the worker (a loop that stops for good exits 1), then the sweep and the alert delivery. */
async function runWorker(
  log: Logger,
  worker: UsageWorker,
  sweep: FailedJobSweep,
  alerting: WorkerAlerting,
): Promise<void> {
  worker.run().catch((err: unknown) => {
    log.error('worker stopped', { err });
    process.exit(1);
  });
  await worker.waitUntilReady();
  sweep.start();
  await alerting.start();
}

function logReady(
  config: WorkerConfig,
  log: Logger,
  { priceBook, tokenizerLoadMs }: WorkerPricing,
  metrics: string,
  alerting: WorkerAlerting,
): void {
  log.info('worker ready', {
    queue: JobCatalog.usage.queue,
    prefix: queuePrefix(config.REDIS_PREFIX),
    redis: redactedUrl(config.REDIS_URL),
    concurrency: config.WORKER_CONCURRENCY,
    jobTokenizerBudgetMs: config.WORKER_JOB_TOKENIZER_BUDGET_MS,
    encoding: config.TOKEN_ENCODING,
    tokenizerLoadMs,
    blockTokensTtlSeconds: config.BLOCK_TOKENS_TTL_SECONDS,
    retentionDays: config.USAGE_RETENTION_DAYS,
    lockDurationMs: config.WORKER_LOCK_DURATION_MS,
    stalledIntervalMs: config.WORKER_STALLED_INTERVAL_MS,
    maxStalledCount: config.WORKER_MAX_STALLED_COUNT,
    metrics,
    priceVersion: priceBook.version,
    alertWebhooks: alerting.describe().webhooks,
    version: VERSION,
    gitSha: config.GIT_SHA,
  });
}

async function shutdown(config: WorkerConfig, log: Logger, running: RunningWorker, signal: string): Promise<void> {
  const { connection, worker, sweep, alerting, observed } = running;
  log.info('closing', { signal, timeoutMs: config.WORKER_CLOSE_TIMEOUT_MS });
  const timedOut = await withDeadline(worker.close(), config.WORKER_CLOSE_TIMEOUT_MS, 'worker close').then(
    () => false,
    () => true,
  );
  await sweep.sweep.stop();
  await alerting.close();
  await sweep.sweepQueue.close().catch(() => undefined);
  await observed.close();
  // Jobs still active after the timeout keep their lock until it expires; another worker then takes them over.
  if (timedOut) connection.disconnect();
  else await connection.quit().catch(() => connection.disconnect());
  // Last: the spans of the jobs that just finished are exported before the exit.
  await running.tracing.shutdown();
  log.info('stopped', { timedOut });
  process.exit(0);
}

async function main(config: WorkerConfig, log: Logger): Promise<void> {
  // 1. Tracing, before anything that could make a span.
  const tracing = await startWorkerTracing(config, log);
  // 2. The price book, then the tokenizer (loaded once: the slow part of the start).
  const pricing = await loadPricing(config);
  // 3. Redis (one connection, its outage watch, the store on it); the metrics side, whose /health reads the latch.
  const stores = openStores(config, log);
  const latch: StopLatch = { stopping: false };
  const observed = await startMetrics(config, log, () => latch.stopping);
  // 4. The counting (alerting, the usage handler), the BullMQ Worker and what it reports, the failed-job sweep.
  const { alerting, handler } = createCounting(config, log, stores, pricing, observed.metrics);
  const worker = createUsageWorker(config, stores.connection, handler, tracing);
  watchWorker(worker, log, stores.redis, alerting, observed.metrics);
  const sweep = createSweep(config, log, stores.connection);
  // 5. Run the worker, the sweep and the alert delivery; then the ready line.
  await runWorker(log, worker, sweep.sweep, alerting);
  logReady(config, log, pricing, observed.exposure, alerting);
  // 6. Shutdown on SIGTERM/SIGINT: active jobs finish, Redis closes, tracing last.
  const running: RunningWorker = { tracing, connection: stores.connection, worker, sweep, alerting, observed };
  stopOnSignals((signal) => shutdown(config, log, running, signal), latch);
}

const config = loadWorkerConfig();
const log = createLogger({ service: 'worker', level: config.LOG_LEVEL, format: config.LOG_FORMAT });
main(config, log).catch((err: unknown) => {
  log.error('cannot start', { err });
  process.stderr.write(`worker cannot start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
