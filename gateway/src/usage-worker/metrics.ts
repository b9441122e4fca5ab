// The usage worker's Prometheus registry: tokens counted (exact and estimated, per model, direction and client route),
// what they cost (per model and key) and the requests no price was known for, jobs handled, and the queue's depth and lag read from BullMQ at scrape time within a deadline (by the
// same reader the gateway uses, which never loads a job's payload).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { sentTokens, type UsageCounters, type UsageJob } from '@switchyard/shared';
import { createLabelLimiter, type LabelLimiter } from '../metrics/label-limiter.js';
import { QUEUE_STATES, createQueueLagReader, shareQueueLag, type LagQueue } from '../usage/queue-lag.js';

export interface WorkerMetrics {
  readonly registry: Registry;
  /** A job counted its request now (not a duplicate): add its tokens and its cost. */
  counted(job: Pick<UsageJob, 'model' | 'keyId' | 'route'>, counters: UsageCounters): void;
  /** A job finished: it counted, or the done marker showed it was counted before. */
  processed(counted: boolean): void;
  /** A job attempt failed (`final`: no attempts are left). */
  failed(final: boolean): void;
}

export interface WorkerMetricsDeps {
  /** The queue reads a scrape makes (a BullMQ Queue has them). */
  queue: LagQueue;
  now(): number;
  /** A scrape waits this long for the queue's figures, then reports the queue as down. Default 2000. */
  queueReadTimeoutMs?: number;
  /** The gateway package's version (the worker ships in the gateway image) and the build's git sha. */
  version: string;
  gitSha: string;
}

/** One token direction and kind as they come out of a request's counters. */
export function tokenSeries(
  counters: UsageCounters,
): { direction: 'sent' | 'received'; kind: 'exact' | 'estimated'; tokens: number }[] {
  return [
    { direction: 'sent', kind: 'exact', tokens: sentTokens(counters) },
    { direction: 'received', kind: 'exact', tokens: counters.outputTokens },
    { direction: 'sent', kind: 'estimated', tokens: counters.estimatedInputTokens },
    { direction: 'received', kind: 'estimated', tokens: counters.estimatedOutputTokens },
  ];
}

/**
 * @example
 * const metrics = createWorkerMetrics({ queue: new Queue(JobCatalog.usage.queue, { connection, prefix }), now: Date.now, version, gitSha });
 * createUsageHandler({ …, onCounted: (job, counters) => metrics.counted(job, counters) });
 */
export function createWorkerMetrics(deps: WorkerMetricsDeps): WorkerMetrics {
  return new PrometheusWorkerMetrics(deps);
}

/** The series the worker adds to as it handles jobs. */
interface JobSeries {
  tokens: Counter;
  jobs: Counter;
  cost: Counter;
  unpriced: Counter;
  finalFailures: Counter;
}

class PrometheusWorkerMetrics implements WorkerMetrics {
  readonly registry = new Registry();
  readonly #modelLabel: LabelLimiter;
  readonly #keyLabel: LabelLimiter;
  readonly #series: JobSeries;

  // The series are registered in this order, which is the order /metrics lists them in.
  constructor(deps: WorkerMetricsDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
    this.#modelLabel = createLabelLimiter(50);
    // Key ids are the operator's, not client text, but a fleet of keys must not grow the series without bound either.
    this.#keyLabel = createLabelLimiter(200);
    registerBuildInfo(registers, deps);
    this.#series = registerJobSeries(registers);
    registerQueueGauges(registers, deps);
  }

  counted(job: Pick<UsageJob, 'model' | 'keyId' | 'route'>, counters: UsageCounters): void {
    const { tokens, cost, unpriced } = this.#series;
    const model = this.#modelLabel(job.model);
    // Two routes at most (the job schema's enum): the label adds no unbounded series.
    for (const s of tokenSeries(counters))
      tokens.inc({ model, direction: s.direction, kind: s.kind, route: job.route }, s.tokens);
    // Dollars from the integer micro-dollars of one request: the sum is for dashboards, the exact figures are in Redis.
    if (counters.costMicros > 0) cost.inc({ model, key: this.#keyLabel(job.keyId) }, counters.costMicros / 1_000_000);
    if (counters.unpricedRequests > 0) unpriced.inc({ model }, counters.unpricedRequests);
  }

  processed(counted: boolean): void {
    this.#series.jobs.inc({ result: counted ? 'counted' : 'duplicate' });
  }

  failed(final: boolean): void {
    this.#series.jobs.inc({ result: 'failed' });
    if (final) this.#series.finalFailures.inc();
  }
}

function registerBuildInfo(registers: Registry[], deps: WorkerMetricsDeps): void {
  new Gauge({
    name: 'switchyard_build_info',
    help: "The build this process runs: its release line's version and git sha (always 1; one series per process).",
    labelNames: ['service', 'version', 'git_sha'],
    registers,
  }).set({ service: 'worker', version: deps.version, git_sha: deps.gitSha }, 1);
}

function registerJobSeries(registers: Registry[]): JobSeries {
  return {
    tokens: new Counter({
      name: 'switchyard_worker_tokens_total',
      help: 'Tokens counted, by model, direction (sent: input + cache creation + cache reads; received: output), kind (exact: as Anthropic reported; estimated: js-tiktoken) and route (the client API: messages or chat_completions).',
      labelNames: ['model', 'direction', 'kind', 'route'],
      registers,
    }),
    jobs: new Counter({
      name: 'switchyard_worker_jobs_total',
      help: 'Usage jobs handled: counted, duplicate (counted before; nothing added), failed (an attempt failed; it is retried unless final).',
      labelNames: ['result'],
      registers,
    }),
    cost: new Counter({
      name: 'switchyard_cost_usd_total',
      help: 'What the counted requests cost at API list prices (genai-prices, or PRICES_FILE), in dollars, by model and key (docs/COST.md). Requests to models with no price add nothing here.',
      labelNames: ['model', 'key'],
      registers,
    }),
    unpriced: new Counter({
      name: 'switchyard_usage_unpriced_requests_total',
      help: 'Requests counted at zero cost because their model has no price (neither genai-prices nor PRICES_FILE knows it).',
      labelNames: ['model'],
      registers,
    }),
    finalFailures: new Counter({
      name: 'switchyard_worker_jobs_failed_final_total',
      help: 'Usage jobs that failed with no attempts left (their request is not counted).',
      registers,
    }),
  };
}

function registerQueueGauges(registers: Registry[], deps: WorkerMetricsDeps): void {
  // One read of the queue per scrape, shared by the gauges below.
  const snapshot = shareQueueLag(
    createQueueLagReader({ queue: deps.queue, now: () => deps.now(), timeoutMs: deps.queueReadTimeoutMs ?? 2_000 }),
  );

  new Gauge({
    name: 'switchyard_worker_queue_up',
    help: '1 when the last scrape could read the usage queue from Redis within its deadline.',
    registers,
    async collect() {
      this.set((await snapshot()) === undefined ? 0 : 1);
    },
  });
  new Gauge({
    name: 'switchyard_worker_queue_jobs',
    help: 'Usage jobs in the queue by state (absent while the queue cannot be read).',
    labelNames: ['state'],
    registers,
    async collect() {
      this.reset();
      const s = await snapshot();
      if (s !== undefined) for (const state of QUEUE_STATES) this.set({ state }, s.depth[state]);
    },
  });
  new Gauge({
    name: 'switchyard_worker_queue_lag_seconds',
    help: 'How long the oldest waiting usage job has waited (0 when none waits).',
    registers,
    async collect() {
      this.reset();
      const s = await snapshot();
      if (s !== undefined) this.set(s.lagSeconds);
    },
  });
}
