import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { z } from 'zod';
import { integer, loadConfig, LogLevelSchema, optionalPort, port, REDIS_PREFIX_PATTERN, secret, url, withHint } from '@switchyard/shared';

/**
 * The node-agent's environment. One node holds one account: an OAuth login (refresh token or a
 * credentials file, or a record already in Redis) or an API key, never two kinds at once.
 */
export const NodeConfigSchema = z
  .object({
    REDIS_URL: withHint(url(['redis:', 'rediss:']).optional(), 'e.g. redis://127.0.0.1:6379, or rediss://:password@host:6380 for TLS'),
    UPSTASH_REDIS_REST_URL: url(['https:', 'http:']).optional(),
    UPSTASH_REDIS_REST_TOKEN: z.string().optional(),
    REDIS_PREFIX: z.string().regex(REDIS_PREFIX_PATTERN, 'must be letters, digits, _ . - : and end with a single ":"').default('sy:'),
    NODE_ID: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . -').default(hostname()),
    NODE_PUBLIC_URL: withHint(url(['http:', 'https:']), 'the URL the gateway reaches this node at, e.g. http://10.0.0.5:8090', 'a URL starting with http:// or https://'),
    HOST: z.string().default('0.0.0.0'),
    PORT: port(8090),
    NODE_SHARED_SECRET: secret(32),
    ANTHROPIC_BASE_URL: url(['https:', 'http:']).default('https://api.anthropic.com'),
    ANTHROPIC_OAUTH_TOKEN_URL: url(['https:', 'http:']).default('https://platform.claude.com/v1/oauth/token'),
    // The login flow's endpoints and client id are observed values (PROTOCOL.md §1), so they stay configurable.
    OAUTH_AUTHORIZE_URL: url(['https:', 'http:']).default('https://claude.ai/oauth/authorize'),
    OAUTH_REDIRECT_URI: url(['https:', 'http:']).default('https://platform.claude.com/oauth/code/callback'),
    OAUTH_CLIENT_ID: z.string().default('9d1c250a-e61b-44d9-88ed-5944d1962f5e'),
    CLAUDE_REFRESH_TOKEN: z.string().optional(),
    CLAUDE_CREDENTIALS_FILE: z.string().optional(),
    ANTHROPIC_API_KEY: z.string().optional(),
    CREDENTIALS_DIR: z.string().default('./credentials'),
    EGRESS_LOCAL_ADDRESS: z.string().refine((v) => isIP(v) !== 0, 'must be an IP address of this host').optional(),
    EGRESS_PROXY_URL: url(['http:', 'https:', 'socks5:']).optional(),
    DRAIN_TIMEOUT_MS: integer(120_000, { min: 0 }),
    MAX_BODY_BYTES: integer(32 * 1024 * 1024, { min: 1 }),
    HEARTBEAT_INTERVAL_MS: integer(5_000, { min: 100 }),
    /** Refresh this long before the access token expires (plus up to 50% jitter, so a fleet never refreshes in lockstep). */
    REFRESH_MARGIN_MS: integer(10 * 60_000, { min: 1_000 }),
    GIT_SHA: z.string().default('unknown'),
    /** Bearer token for GET /metrics: set, /metrics is served on the main port behind it (or on METRICS_PORT). */
    METRICS_TOKEN: secret(32).optional(),
    /** Serve /metrics on a listener of its own at HOST:METRICS_PORT (token optional there); 0 turns metrics off. */
    METRICS_PORT: optionalPort(),
    LOG_LEVEL: LogLevelSchema,
    LOG_FORMAT: z.enum(['json', 'pretty']).default('json'),
  })
  .superRefine((c, ctx) => {
    const oauth = c.CLAUDE_REFRESH_TOKEN !== undefined || c.CLAUDE_CREDENTIALS_FILE !== undefined;
    if (c.CLAUDE_REFRESH_TOKEN !== undefined && c.CLAUDE_CREDENTIALS_FILE !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['CLAUDE_CREDENTIALS_FILE'], message: 'set either CLAUDE_REFRESH_TOKEN or CLAUDE_CREDENTIALS_FILE, not both' });
    }
    if (oauth && c.ANTHROPIC_API_KEY !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['ANTHROPIC_API_KEY'], message: 'a node holds one account: set an OAuth credential or ANTHROPIC_API_KEY, not both' });
    }
    const upstash = c.UPSTASH_REDIS_REST_URL !== undefined || c.UPSTASH_REDIS_REST_TOKEN !== undefined;
    if (upstash && (c.UPSTASH_REDIS_REST_URL === undefined || c.UPSTASH_REDIS_REST_TOKEN === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['UPSTASH_REDIS_REST_TOKEN'], message: 'UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN go together' });
    }
    if (c.METRICS_PORT !== undefined && c.METRICS_PORT !== 0 && c.METRICS_PORT === c.PORT) {
      ctx.addIssue({ code: 'custom', path: ['METRICS_PORT'], message: 'must differ from PORT (unset it and set METRICS_TOKEN to serve /metrics on the main port)' });
    }
    if (upstash && c.REDIS_URL !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['REDIS_URL'], message: 'set REDIS_URL or the UPSTASH_REDIS_REST_* pair, not both' });
    }
  });
export type NodeConfig = z.infer<typeof NodeConfigSchema>;

/** Reads the node's config from the environment, or exits listing every problem. */
export function loadNodeConfig(env: NodeJS.ProcessEnv = process.env): NodeConfig {
  return loadConfig(NodeConfigSchema, env);
}
