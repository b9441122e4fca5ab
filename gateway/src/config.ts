import { hostname } from 'node:os';
import { z } from 'zod';
import {
  integer,
  loadConfig,
  LogLevelSchema,
  optionalPort,
  PING_INTERVAL_MS,
  PING_TIMEOUT_MS,
  port,
  REDIS_PREFIX_PATTERN,
  REPLICA_ID_RE,
  secret,
  TokenEncodingSchema,
  tracingConfigOf,
  TracingEnvShape,
  url,
  withHint,
  type TracingConfig,
} from '@switchyard/shared';
import type { ModelAliases } from './openai/types.js';
import { DEFAULT_LAG_WARN_SECONDS } from './usage/lag-watcher.js';

const MODEL_ALIASES_SHAPE = 'must be a JSON object of model names to Claude model ids';

/** What a JSON value is, for a problem's message: "an array", "null", "a number", … */
function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string' && v.trim() === '') return v === '' ? 'an empty string' : 'a blank string';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}

/**
 * MODEL_ALIASES: a JSON object of names a client may send as `model` on /v1/chat/completions → the Claude model id
 * sent instead (docs/OPENAI.md). Parsed once here. Unset stays undefined in the schema (an environment default is a
 * scalar, which test/deploy reads), and GatewayConfig holds an empty map then. Each problem names the alias at fault.
 */
const ModelAliasesSchema = withHint(
  z
    .string()
    .transform((raw, ctx): ModelAliases => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw);
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          message: `is not valid JSON (${err instanceof SyntaxError ? err.message : 'unreadable'}): it ${MODEL_ALIASES_SHAPE}`,
        });
        return z.NEVER;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        ctx.addIssue({ code: 'custom', message: `${MODEL_ALIASES_SHAPE} (got ${jsonKind(parsed)})` });
        return z.NEVER;
      }
      const aliases = new Map<string, string>();
      for (const [name, target] of Object.entries(parsed)) {
        if (typeof target === 'string' && target.trim() !== '') aliases.set(name, target);
        else
          ctx.addIssue({
            code: 'custom',
            message: `alias ${JSON.stringify(name)} must map to a non-empty string (a Claude model id), got ${jsonKind(target)}`,
          });
      }
      return aliases;
    })
    .optional(),
  'e.g. {"gpt-4o":"claude-sonnet-4-5","gpt-4o-mini":"claude-haiku-4-5"}; see docs/OPENAI.md',
);

/** The gateway's environment. Secrets have no defaults: the gateway refuses to start without them. */
export const GatewayConfigSchema = z
  .object({
    REDIS_URL: withHint(
      url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
      'e.g. redis://127.0.0.1:6379, or rediss://:password@host:6380 for TLS',
    ),
    REDIS_PREFIX: z
      .string()
      .regex(REDIS_PREFIX_PATTERN, 'must be letters, digits, _ . - : and end with a single ":"')
      .default('sy:'),
    HOST: z.string().default('0.0.0.0'),
    PORT: port(8080),
    /** Full admin rights: every admin API call. */
    ADMIN_TOKEN: secret(32),
    /** Read-only admin rights: every GET of the admin API and the dashboard's read views. Unset: no read-only role. */
    ADMIN_READ_TOKEN: secret(32).optional(),
    /**
     * The admin plane's own listener (/admin, /dashboard, the admin OpenAPI document) at ADMIN_HOST:ADMIN_PORT.
     * Unset: they share the main listener (a single-host or loopback setup). Set: the main listener serves the
     * client API, the node tunnel and the probes only.
     */
    ADMIN_PORT: optionalPort(),
    ADMIN_HOST: z.string().default('127.0.0.1'),
    /** Open client connections (node tunnels included) past which new ones are refused at accept. */
    MAX_CONNECTIONS: integer(4_096, { min: 1 }),
    /** A request's headers must arrive within this (a slow-header client is answered 408 and closed). */
    HEADERS_TIMEOUT_MS: integer(10_000, { min: 100 }),
    /** A whole request (headers and body) must arrive within this; the response may take as long as it takes. */
    REQUEST_TIMEOUT_MS: integer(120_000, { min: 100 }),
    /** An idle keep-alive connection is closed after this (longer than a load balancer's usual 60 s idle timeout). */
    KEEP_ALIVE_TIMEOUT_MS: integer(65_000, { min: 100 }),
    /** Request-body bytes all requests in flight may hold together; past it a request gets 503 overloaded_error before its body is read. */
    MAX_INFLIGHT_BODY_BYTES: integer(256 * 1024 * 1024, { min: 1 }),
    /**
     * This replica's id: in its nodes' tunnels, the replica registry and the edge's routes. Unique per replica.
     * Defaults to the host name (a container's id under compose).
     */
    GATEWAY_ID: withHint(
      z
        .string()
        .regex(REPLICA_ID_RE, 'must be 1-64 letters, digits, _ . -')
        .default(() => hostname()),
      'e.g. gateway-1; set it when the host name is not a valid id (1-64 letters, digits, _ . -)',
    ),
    /** Where nodes can dial this replica directly (skipping the edge); unset: through GATEWAY_URL with the replica header. */
    GATEWAY_REPLICA_URL: withHint(url(['http:', 'https:']).optional(), 'e.g. https://gw-1.example.com'),
    /** HTTP/2 PINGs on each node tunnel: how often, and how long one may stay unanswered before the tunnel is dropped. */
    TUNNEL_PING_INTERVAL_MS: integer(PING_INTERVAL_MS, { min: 10 }),
    TUNNEL_PING_TIMEOUT_MS: integer(PING_TIMEOUT_MS, { min: 10 }),
    MAX_BODY_BYTES: integer(32 * 1024 * 1024, { min: 1 }),
    /**
     * The same PRICES_FILE as the usage worker's (docs/COST.md): what a request reserves against its key's USD
     * budgets is priced from it (docs/BUDGETS.md). Read once at start; a file that does not parse stops the gateway.
     */
    PRICES_FILE: z.string().min(1).optional(),
    /** On SIGTERM, how long in-flight streams may finish before the gateway exits. */
    DRAIN_TIMEOUT_MS: integer(120_000, { min: 0 }),
    /**
     * On SIGTERM, how long the listener stays open while /health and /ready answer 503 draining, so a
     * health-checking proxy in front takes this gateway out of rotation before it refuses connections.
     * Counts within DRAIN_TIMEOUT_MS. Behind the compose stack's edge: longer than its health-check interval.
     */
    DRAIN_NOTICE_MS: integer(0, { min: 0 }),
    /** Usage drafts held in memory while they wait to be enqueued; past it they go straight to the spool. */
    USAGE_BUFFER_MAX: integer(10_000, { min: 1 }),
    /**
     * Seconds the oldest waiting usage job may wait to be counted before the gateway logs `usage accounting lags`
     * (and the dashboard shows the lag as a warning). Budgets hold each request's reservation until it is counted,
     * for at most 10 minutes (docs/BUDGETS.md).
     */
    USAGE_LAG_WARN_SECONDS: integer(DEFAULT_LAG_WARN_SECONDS, { min: 1 }),
    /** Where usage jobs that Redis could not take are appended (JSON lines) until they are replayed. */
    USAGE_SPOOL_DIR: z.string().min(1).default('./data/usage-spool'),
    /** A node that left the fleet without draining raises node_lost when it has not come back within this (docs/ALERTS.md). */
    ALERT_NODE_LOST_GRACE_MS: integer(30_000, { min: 1_000 }),
    /** The usage worker's tokeniser encoding: block counts are kept per encoding, so it must match the worker's. */
    TOKEN_ENCODING: TokenEncodingSchema,
    GIT_SHA: z.string().default('unknown'),
    /**
     * Bearer token for GET /metrics; never an admin token. On the main port /metrics is off without it; on
     * METRICS_PORT, unset means no token (keep that port reachable by the scraper only).
     */
    METRICS_TOKEN: secret(32).optional(),
    /** Serve /metrics on a listener of its own at HOST:METRICS_PORT instead of the main port; 0 turns metrics off. */
    METRICS_PORT: optionalPort(),
    /**
     * Names a /v1/chat/completions client may send as `model`, mapped to the Claude model id sent instead (a JSON
     * object; docs/OPENAI.md). Other names pass as sent. Unset here is undefined; GatewayConfig holds an empty map.
     */
    MODEL_ALIASES: ModelAliasesSchema,
    LOG_LEVEL: LogLevelSchema,
    LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
    /** OpenTelemetry: on with an OTLP endpoint (docs/TRACING.md). */
    ...TracingEnvShape,
  })
  .superRefine((c, ctx) => {
    if (c.DRAIN_NOTICE_MS > c.DRAIN_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['DRAIN_NOTICE_MS'],
        message: 'must not exceed DRAIN_TIMEOUT_MS (the notice counts within the drain)',
      });
    }
    if (c.ADMIN_READ_TOKEN !== undefined && c.ADMIN_READ_TOKEN === c.ADMIN_TOKEN) {
      ctx.addIssue({
        code: 'custom',
        path: ['ADMIN_READ_TOKEN'],
        message: 'must differ from ADMIN_TOKEN (a read-only token that is also the admin token is no role)',
      });
    }
    if (
      c.METRICS_TOKEN !== undefined &&
      (c.METRICS_TOKEN === c.ADMIN_TOKEN || c.METRICS_TOKEN === c.ADMIN_READ_TOKEN)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['METRICS_TOKEN'],
        message: 'must differ from ADMIN_TOKEN and ADMIN_READ_TOKEN (a scraper holds no admin rights)',
      });
    }
    if (
      c.ADMIN_PORT !== undefined &&
      c.ADMIN_PORT !== 0 &&
      (c.ADMIN_PORT === c.PORT || c.ADMIN_PORT === c.METRICS_PORT)
    ) {
      ctx.addIssue({
        code: 'custom',
        path: ['ADMIN_PORT'],
        message: 'must differ from PORT and METRICS_PORT (unset it to serve the admin plane on the main port)',
      });
    }
    if (c.MAX_INFLIGHT_BODY_BYTES < c.MAX_BODY_BYTES) {
      ctx.addIssue({
        code: 'custom',
        path: ['MAX_INFLIGHT_BODY_BYTES'],
        message: 'must be at least MAX_BODY_BYTES (else a body of the largest size could never be held)',
      });
    }
    if (c.HEADERS_TIMEOUT_MS > c.REQUEST_TIMEOUT_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['HEADERS_TIMEOUT_MS'],
        message: 'must not exceed REQUEST_TIMEOUT_MS (the headers are part of the request)',
      });
    }
    if (c.ADMIN_PORT === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['ADMIN_PORT'],
        message: 'must be a port (unset it to serve the admin plane on the main port)',
      });
    }
    if (c.METRICS_PORT !== undefined && c.METRICS_PORT !== 0 && c.METRICS_PORT === c.PORT) {
      ctx.addIssue({
        code: 'custom',
        path: ['METRICS_PORT'],
        message: 'must differ from PORT (unset it to serve /metrics on the main port)',
      });
    }
  });
/** The environment as the schema parses it (MODEL_ALIASES undefined when unset). */
export type ParsedGatewayConfig = z.infer<typeof GatewayConfigSchema>;
/**
 * The gateway's config as its code reads it: MODEL_ALIASES is always a map (empty when unset), and `tracing` says
 * whether spans are exported and where (from the OTEL_* variables).
 */
export type GatewayConfig = Omit<ParsedGatewayConfig, 'MODEL_ALIASES'> & {
  MODEL_ALIASES: ModelAliases;
  tracing: TracingConfig;
};

/** The parsed environment with what a zod default cannot carry filled in (an empty MODEL_ALIASES, tracing on or off). */
export function gatewayConfigOf(parsed: ParsedGatewayConfig): GatewayConfig {
  return {
    ...parsed,
    MODEL_ALIASES: parsed.MODEL_ALIASES ?? new Map<string, string>(),
    tracing: tracingConfigOf(parsed),
  };
}

/** Reads the gateway's config from the environment, or exits listing every problem. */
export function loadGatewayConfig(env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  return gatewayConfigOf(loadConfig(GatewayConfigSchema, env));
}
