import { z } from 'zod';
import {
  integer,
  loadConfig,
  LogLevelSchema,
  port,
  REDIS_PREFIX_PATTERN,
  secret,
  TokenEncodingSchema,
  tracingConfigOf,
  TracingEnvShape,
  url,
  withHint,
  type TracingConfig,
} from '@switchyard/shared';
import { AlertWebhookSecretSchema, AlertWebhookUrlsSchema, checkAlertConfig } from './alerts/alert-config.js';
import { DEFAULT_JOB_TOKENIZER_BUDGET_MS } from './tokenizer.js';

const DAY_SECONDS = 86_400;

/** The usage worker's environment. Its secrets: what REDIS_URL may carry, and the alerts' signing secret. */
export const WorkerConfigSchema = z
  .object({
    REDIS_URL: withHint(
      url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
      'e.g. redis://127.0.0.1:6379, or rediss://:password@host:6380 for TLS',
    ),
    REDIS_PREFIX: z
      .string()
      .regex(REDIS_PREFIX_PATTERN, 'must be letters, digits, _ . - : and end with a single ":"')
      .default('sy:'),
    /**
     * Jobs one worker process handles at once. A job is a few Redis round trips around a little synchronous
     * tokenising, so it mostly waits: enough jobs in flight cover the round trips (docs/USAGE.md, "Throughput").
     */
    WORKER_CONCURRENCY: integer(32, { min: 1, max: 1_000 }),
    /**
     * Tokeniser time one job may take (ms). Past it, the rest of the job's new text is estimated from its length
     * and the usage row says so (`approximateEstimates`), so no input can hold a worker (docs/USAGE.md).
     */
    WORKER_JOB_TOKENIZER_BUDGET_MS: integer(DEFAULT_JOB_TOKENIZER_BUDGET_MS, { min: 1, max: 60_000 }),
    /** The js-tiktoken encoding; block counts are kept per encoding, so changing it starts a fresh table. */
    TOKEN_ENCODING: TokenEncodingSchema,
    /** How long a block's count is kept after its last use (refreshed on every use). */
    BLOCK_TOKENS_TTL_SECONDS: integer(7 * DAY_SECONDS, { min: 60 }),
    /** How long the per-day usage hashes and their index sets live after their last write. */
    USAGE_RETENTION_DAYS: integer(400, { min: 1 }),
    /**
     * A JSON file of prices for private or new models, matched before genai-prices' own (docs/COST.md). Read once
     * at start: a file that does not parse stops the worker, naming the JSON path of the problem.
     */
    PRICES_FILE: z.string().min(1).optional(),
    /**
     * A job whose worker died keeps its lock this long before another worker may take it over.
     * BullMQ's default; lower it only where a faster takeover matters more than a spurious one.
     */
    WORKER_LOCK_DURATION_MS: integer(30_000, { min: 1_000 }),
    /** How often a worker looks for jobs whose lock expired (stalled) and puts them back in the queue. */
    WORKER_STALLED_INTERVAL_MS: integer(30_000, { min: 500 }),
    /**
     * How often one job may be recovered from a stalled worker before it fails. Counting is idempotent,
     * so a recovered job can never count twice; the limit only stops a job that kills every worker.
     */
    WORKER_MAX_STALLED_COUNT: integer(3, { min: 0 }),
    /**
     * On SIGTERM, how long to let active jobs finish before closing anyway. A job cut off here is taken
     * over by another worker once its lock expires, and cannot count twice.
     */
    WORKER_CLOSE_TIMEOUT_MS: integer(10_000, { min: 0 }),
    /** The commit this build came from (the image sets it); reported by /health, /metrics and the start line. */
    GIT_SHA: z.string().default('unknown'),
    /** The address the metrics listener binds. */
    HOST: z.string().default('0.0.0.0'),
    /** GET /metrics and GET /health are served at HOST:METRICS_PORT (the worker has no other listener); 0 turns it off. */
    METRICS_PORT: port(9464),
    /** Bearer token for /metrics; unset, the port is open (keep it reachable by the scraper only). */
    METRICS_TOKEN: secret(32).optional(),
    LOG_LEVEL: LogLevelSchema,
    LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
    /** Where alerts are POSTed (docs/ALERTS.md): comma-separated http(s) URLs; unset, alerts are only listed and counted. */
    ALERT_WEBHOOK_URLS: AlertWebhookUrlsSchema,
    /** Signs every delivery (Standard Webhooks): `whsec_` + base64; required when ALERT_WEBHOOK_URLS is set. */
    ALERT_WEBHOOK_SECRET: AlertWebhookSecretSchema,
    /** A failed delivery's first retry waits this long; each next one twice as long (12 attempts: about 68 min from the first to the last at 2 s). */
    ALERT_RETRY_DELAY_MS: integer(2_000, { min: 1 }),
    /** OpenTelemetry: on with an OTLP endpoint; the job span links to the request's trace (docs/TRACING.md). */
    ...TracingEnvShape,
  })
  .superRefine(checkAlertConfig);
/** The environment as the schema parses it. */
export type ParsedWorkerConfig = z.infer<typeof WorkerConfigSchema>;
/** The worker's config as its code reads it: `tracing` says whether spans are exported and where (the OTEL_* variables). */
export type WorkerConfig = ParsedWorkerConfig & { tracing: TracingConfig };

/** The parsed environment with what a zod default cannot carry: tracing on or off. */
export function workerConfigOf(parsed: ParsedWorkerConfig): WorkerConfig {
  return { ...parsed, tracing: tracingConfigOf(parsed) };
}

/** Reads the worker's config from the environment, or exits listing every problem. */
export function loadWorkerConfig(env: NodeJS.ProcessEnv = process.env): WorkerConfig {
  return workerConfigOf(loadConfig(WorkerConfigSchema, env));
}
