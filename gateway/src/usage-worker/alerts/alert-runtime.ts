// The worker's alerting, assembled: the sink its own producers use (budget thresholds, usage jobs failing for
// good), the dispatcher on the 'alerts' queue and the webhook deliveries on 'alert-deliveries'. It lives beside
// main.ts rather than in it so the composition root gains three lines, not sixty; it is given the process's
// connection and registry and opens nothing of its own but BullMQ's queues and workers on that connection.
import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import {
  JobCatalog,
  type AlertSink,
  type HashStore,
  type JobData,
  type Keyspace,
  type KeyValueStore,
  type Logger,
  type OnceStore,
  type UsageCounters,
  type UsageJob,
} from '@switchyard/shared';
import { alertIds, urlDigest } from '../../alerts/alert-ids.js';
import { createQueueAlertSink, type QueueAlertSink } from '../../alerts/queue-alert-sink.js';
import { createAlertDispatcher } from './alert-dispatcher.js';
import { createAlertMetrics, type AlertMetrics } from './alert-metrics.js';
import { createBudgetAlerts, type BudgetAlerts } from './budget-alerts.js';
import { createWebhookDelivery } from './webhook-delivery.js';

export interface WorkerAlertingDeps {
  /** The worker's connection (maxRetriesPerRequest null, as BullMQ's workers need): the queues' and workers'. */
  connection: Redis;
  /** The store on that connection: the alert markers and list, key records and usage totals. */
  store: Pick<KeyValueStore, 'get'> & Pick<HashStore, 'hgetall'> & Pick<OnceStore, 'writeOnce'>;
  /** queuePrefix(REDIS_PREFIX). */
  prefix: string;
  keys: Keyspace;
  /** ALERT_WEBHOOK_URLS and ALERT_WEBHOOK_SECRET (the config requires the secret when there are URLs). */
  urls: readonly string[];
  secret: string | undefined;
  registry: Registry;
  log: Logger;
  /** The deliveries' first retry delay (ALERT_RETRY_DELAY_MS); default the catalog's. */
  deliveryBackoffMs?: number;
}

export interface WorkerAlerting {
  /** Where the worker's own producers raise alerts. */
  readonly sink: AlertSink;
  readonly budgets: BudgetAlerts;
  /** The usage handler's onCounted, for the budgets (returns at once). */
  counted(job: UsageJob, counters: UsageCounters): void;
  /** Raises usage_job_failed for the usage Worker's jobs that fail for good. */
  watchUsage(worker: Pick<Worker, 'on'>): void;
  /** For the start line: the webhooks by origin and digest, never their full URL. */
  describe(): { webhooks: string[] };
  start(): Promise<void>;
  close(): Promise<void>;
}

function origin(url: string): string {
  return `${new URL(url).origin} (${urlDigest(url)})`;
}

/** Raises usage_job_failed for a usage job that failed with no attempts left (or could never be counted). */
function watchUsageFailures(worker: Pick<Worker, 'on'>, sink: AlertSink): void {
  worker.on('failed', (job: Job | undefined, err: Error) => {
    if (job?.id === undefined) return;
    const final = err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1);
    if (!final) return;
    const data = (typeof job.data === 'object' && job.data !== null ? job.data : {}) as Record<string, unknown>;
    sink.emit({
      id: alertIds.usageJobFailed(job.id),
      type: 'usage_job_failed',
      at: Date.now(),
      ...(typeof data.keyId === 'string' ? { keyId: data.keyId } : {}),
      ...(typeof data.nodeId === 'string' ? { nodeId: data.nodeId } : {}),
      message: `The usage of request ${job.id} was not counted: its job failed for good (${err.name}). Its tokens and cost are missing from the totals.`,
      data: { requestId: job.id, attempts: job.attemptsMade, errorName: err.name },
    });
  });
}

/**
 * @example
 * const alerting = createWorkerAlerting({ connection, store, prefix, keys, urls: config.ALERT_WEBHOOK_URLS, secret: config.ALERT_WEBHOOK_SECRET, registry: metrics.registry, log });
 * createUsageHandler({ …, onCounted: (job, counters) => { metrics.counted(job, counters); alerting.counted(job, counters); } });
 * alerting.watchUsage(usageWorker);
 * await alerting.start();
 */
export function createWorkerAlerting(deps: WorkerAlertingDeps): WorkerAlerting {
  return new QueuedWorkerAlerting(deps);
}

class QueuedWorkerAlerting implements WorkerAlerting {
  readonly sink: QueueAlertSink;
  readonly budgets: BudgetAlerts;
  readonly #urls: readonly string[];
  readonly #log: Logger;
  readonly #producer: Redis;
  readonly #alertQueue: Queue;
  readonly #deliveryQueue: Queue;
  readonly #workers: Worker[];

  constructor(deps: WorkerAlertingDeps) {
    const { connection, prefix, log } = deps;
    this.#urls = deps.urls;
    this.#log = log;
    const metrics = createAlertMetrics(deps.registry);
    this.#producer = openProducer(connection);
    this.#alertQueue = new Queue(JobCatalog.alert.queue, { connection: this.#producer, prefix });
    this.#deliveryQueue = new Queue(JobCatalog.alertDelivery.queue, { connection, prefix });
    for (const q of [this.#alertQueue, this.#deliveryQueue]) q.on('error', () => undefined);
    this.sink = createQueueAlertSink({ queue: this.#alertQueue, log });
    this.budgets = createBudgetAlerts({ store: deps.store, keys: deps.keys, sink: this.sink, log });
    this.#workers = [dispatchWorker(deps, metrics, this.#deliveryQueue)];
    if (deps.urls.length > 0 && deps.secret !== undefined)
      this.#workers.push(deliveryWorker(deps, metrics, deps.secret));
    for (const w of this.#workers) w.on('error', (err) => log.debug('alert worker error', { reason: err.message }));
  }

  counted(job: UsageJob): void {
    void this.budgets.check(job);
  }

  watchUsage(worker: Pick<Worker, 'on'>): void {
    watchUsageFailures(worker, this.sink);
  }

  describe(): { webhooks: string[] } {
    return { webhooks: this.#urls.map(origin) };
  }

  async start(): Promise<void> {
    this.sink.start();
    for (const w of this.#workers) {
      w.run().catch((err: unknown) => this.#log.error('alert worker stopped', { err }));
      await w.waitUntilReady();
    }
  }

  async close(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.close()));
    await this.sink.stop();
    await Promise.all([this.#alertQueue.close(), this.#deliveryQueue.close()].map((p) => p.catch(() => undefined)));
    this.#producer.disconnect();
  }
}

// The sink's adds must fail at once while Redis is away (into its bounded buffer), not wait in an offline
// queue: a connection of its own without one, unlike the workers' (which must wait out a reconnect).
function openProducer(connection: Redis): Redis {
  const producer = connection.duplicate({
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectionName: 'usage-worker-alerts',
  });
  producer.on('error', () => undefined);
  return producer;
}

/** The 'alerts' queue's worker, through the dispatcher (not started: start() runs it). */
function dispatchWorker(deps: WorkerAlertingDeps, metrics: AlertMetrics, deliveries: Queue): Worker {
  const dispatcher = createAlertDispatcher({
    store: deps.store,
    keys: deps.keys,
    deliveries,
    urls: deps.urls,
    log: deps.log,
    metrics,
    ...(deps.deliveryBackoffMs === undefined ? {} : { deliveryBackoffMs: deps.deliveryBackoffMs }),
  });
  return new Worker<JobData<'alert'>, boolean>(JobCatalog.alert.queue, (job) => dispatcher.handle(job.data), {
    connection: deps.connection,
    prefix: deps.prefix,
    autorun: false,
    concurrency: 4,
  });
}

/** The 'alert-deliveries' queue's worker, for when there are webhooks and their secret (not started either). */
function deliveryWorker(deps: WorkerAlertingDeps, metrics: AlertMetrics, secret: string): Worker {
  const delivery = createWebhookDelivery({ secret, log: deps.log, metrics });
  return new Worker<JobData<'alertDelivery'>, void>(
    JobCatalog.alertDelivery.queue,
    (job) => delivery.deliver(job.data, { attempt: job.attemptsMade + 1, attempts: job.opts.attempts ?? 1 }),
    {
      connection: deps.connection,
      prefix: deps.prefix,
      autorun: false,
      // A hanging receiver holds one slot for up to the delivery timeout; the others keep going.
      concurrency: 8,
    },
  );
}
