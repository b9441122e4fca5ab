import { isIP } from 'node:net';
import { z } from 'zod';
import {
  flag,
  integer,
  loadConfig,
  LogLevelSchema,
  NodeTokens,
  optionalPort,
  PING_INTERVAL_MS,
  PING_TIMEOUT_MS,
  port,
  secret,
  TracingEnvShape,
  url,
  withHint,
} from '@switchyard/shared';
import { gatewayUrlProblem } from './fleet/gateway-url.js';
import { DEFAULT_UPSTREAM_TIMEOUTS } from './upstream/deadlines.js';

// setTimeout's limit (2^31 - 1 ms, about 24.8 days).
const MAX_TIMER_MS = 2_147_483_647;

/**
 * The node-agent's environment. A node holds one account (an OAuth login — refresh token, credentials file or
 * the record on its volume — or an API key, never two kinds) and its own node token. It dials out to the
 * gateway; it holds no Redis credential and serves no public port.
 */
export const NodeConfigSchema = z
  .object({
    // Tracing (docs/TRACING.md): on with an OTLP endpoint. The collector and its headers (OTEL_EXPORTER_OTLP_HEADERS,
    // read by the exporter) are the node operator's own: a node host is given no fleet secret for them.
    ...TracingEnvShape,
    GATEWAY_URL: withHint(
      url(['https:', 'http:']),
      'the gateway (or its edge) this node dials in to, e.g. https://gateway.example.com',
      'the URL `switchyard nodes add` printed',
    ),
    NODE_ID: withHint(
      z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . -'),
      'the id this node was enrolled under: `switchyard nodes add <id>`',
    ),
    NODE_TOKEN: withHint(
      z
        .string()
        .refine(
          (v) => NodeTokens.isWellFormed(v),
          'is not a node token (syn-…, 53 characters; check for a cut or extra character)',
        ),
      'create one on the gateway with `switchyard nodes add <id>` (or `switchyard nodes rotate <id>`)',
      'the node token `switchyard nodes add` printed',
    ),
    /** Plain-http GATEWAY_URL to a public address: refused unless this is set. */
    GATEWAY_ALLOW_HTTP: flag(false),
    TUNNEL_PING_INTERVAL_MS: integer(PING_INTERVAL_MS, { min: 50 }),
    TUNNEL_PING_TIMEOUT_MS: integer(PING_TIMEOUT_MS, { min: 50 }),
    /** The local listener (/health, /metrics): loopback unless configured otherwise. */
    HOST: z.string().default('127.0.0.1'),
    PORT: port(8090),
    ANTHROPIC_BASE_URL: url(['https:', 'http:']).default('https://api.anthropic.com'),
    ANTHROPIC_OAUTH_TOKEN_URL: url(['https:', 'http:']).default('https://platform.claude.com/v1/oauth/token'),
    // The login flow's endpoints and client id are observed values (docs/ANTHROPIC.md §1), so they stay configurable.
    OAUTH_AUTHORIZE_URL: url(['https:', 'http:']).default('https://claude.ai/oauth/authorize'),
    OAUTH_REDIRECT_URI: url(['https:', 'http:']).default('https://platform.claude.com/oauth/code/callback'),
    OAUTH_CLIENT_ID: z.string().default('9d1c250a-e61b-44d9-88ed-5944d1962f5e'),
    CLAUDE_REFRESH_TOKEN: z.string().optional(),
    CLAUDE_CREDENTIALS_FILE: z.string().optional(),
    ANTHROPIC_API_KEY: z.string().optional(),
    CREDENTIALS_DIR: z.string().default('./credentials'),
    EGRESS_LOCAL_ADDRESS: z
      .string()
      .refine((v) => isIP(v) !== 0, 'must be an IP address of this host')
      .optional(),
    EGRESS_PROXY_URL: url(['http:', 'https:', 'socks5:']).optional(),
    /**
     * Requests to Anthropic: TCP and TLS (or the egress proxy and its CONNECT) within UPSTREAM_CONNECT_TIMEOUT_MS, else
     * 502; the response head within UPSTREAM_HEADERS_TIMEOUT_MS of the request going out, else 504. A non-streaming
     * answer comes whole after minutes of work, hence 10 min (docs/EDGES.md, "Timeouts"). The body is
     * never timed. At most MAX_TIMER_MS: a longer Node timer would fire at once.
     */
    UPSTREAM_CONNECT_TIMEOUT_MS: integer(DEFAULT_UPSTREAM_TIMEOUTS.connectMs, { min: 100, max: MAX_TIMER_MS }),
    UPSTREAM_HEADERS_TIMEOUT_MS: integer(DEFAULT_UPSTREAM_TIMEOUTS.headersMs, { min: 1_000, max: MAX_TIMER_MS }),
    DRAIN_TIMEOUT_MS: integer(120_000, { min: 0 }),
    MAX_BODY_BYTES: integer(32 * 1024 * 1024, { min: 1 }),
    /** Refresh this long before the access token expires (plus up to 50% jitter, so a fleet never refreshes in lockstep). */
    REFRESH_MARGIN_MS: integer(10 * 60_000, { min: 1_000 }),
    GIT_SHA: z.string().default('unknown'),
    /** Bearer token for GET /metrics: set, /metrics is served on the local listener behind it (or on METRICS_PORT). */
    METRICS_TOKEN: secret(32).optional(),
    /** Serve /metrics on a listener of its own at HOST:METRICS_PORT (token optional there); 0 turns metrics off. */
    METRICS_PORT: optionalPort(),
    LOG_LEVEL: LogLevelSchema,
    LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  })
  .superRefine((c, ctx) => {
    const problem = gatewayUrlProblem(new URL(c.GATEWAY_URL), c.GATEWAY_ALLOW_HTTP);
    if (problem !== undefined) ctx.addIssue({ code: 'custom', path: ['GATEWAY_URL'], message: problem });
    if (c.TUNNEL_PING_TIMEOUT_MS < c.TUNNEL_PING_INTERVAL_MS) {
      ctx.addIssue({
        code: 'custom',
        path: ['TUNNEL_PING_TIMEOUT_MS'],
        message: 'must be at least TUNNEL_PING_INTERVAL_MS',
      });
    }
    const oauth = c.CLAUDE_REFRESH_TOKEN !== undefined || c.CLAUDE_CREDENTIALS_FILE !== undefined;
    if (c.CLAUDE_REFRESH_TOKEN !== undefined && c.CLAUDE_CREDENTIALS_FILE !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['CLAUDE_CREDENTIALS_FILE'],
        message: 'set either CLAUDE_REFRESH_TOKEN or CLAUDE_CREDENTIALS_FILE, not both',
      });
    }
    if (oauth && c.ANTHROPIC_API_KEY !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['ANTHROPIC_API_KEY'],
        message: 'a node holds one account: set an OAuth credential or ANTHROPIC_API_KEY, not both',
      });
    }
    if (c.METRICS_PORT !== undefined && c.METRICS_PORT !== 0 && c.METRICS_PORT === c.PORT) {
      ctx.addIssue({
        code: 'custom',
        path: ['METRICS_PORT'],
        message: 'must differ from PORT (unset it and set METRICS_TOKEN to serve /metrics on the local listener)',
      });
    }
  });
export type NodeConfig = z.infer<typeof NodeConfigSchema>;

/** Reads the node's config from the environment, or exits listing every problem. */
export function loadNodeConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  return loadConfig(NodeConfigSchema, env);
}
