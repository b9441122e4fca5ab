import { z } from 'zod';
import { OAUTH_BETA, parseRateLimitHeaders } from '@switchyard/shared';
import type { Egress } from '../upstream/egress.js';
import { HttpCallError, requestJson, type JsonResponse } from './http-json.js';
import type { OAuthCredential } from './oauth-credential.js';

/**
 * What a token request came to, classified by status and the OAuth `error` code only:
 * - ok: a new pair (the refresh token kept when the answer carried none);
 * - invalid_grant: the refresh token or code is dead (400 invalid_grant);
 * - transient: 5xx, 429, a timeout or a network error, worth retrying later;
 * - rejected: any other refusal (e.g. 400 invalid_request, 401, 403).
 */
export type TokenResult =
  | { kind: 'ok'; credential: OAuthCredential; email?: string; accountUuid?: string }
  | { kind: 'invalid_grant' }
  | {
      kind: 'transient';
      status?: number;
      retryAfterMs?: number;
      reason: 'status' | 'timeout' | 'network' | 'malformed';
    }
  | { kind: 'rejected'; status: number; error?: string };

/** The parameters of an authorization-code exchange (PKCE). */
export interface CodeExchange {
  code: string;
  verifier: string;
  state: string;
  redirectUri: string;
}

/** The account an access token belongs to, as far as the provider tells. */
export interface AccountProfile {
  email?: string;
  accountUuid?: string;
}

/** The OAuth token endpoint (and the profile endpoint), reached through the node's egress. */
export interface OAuthClient {
  refresh(refreshToken: string): Promise<TokenResult>;
  exchangeCode(exchange: CodeExchange): Promise<TokenResult>;
  /** The account behind an access token; undefined when the profile cannot be had (best effort, never throws). */
  profile(accessToken: string): Promise<AccountProfile | undefined>;
}

export interface OAuthClientOptions {
  egress: Egress;
  /** ANTHROPIC_OAUTH_TOKEN_URL */
  tokenUrl: URL;
  /** OAUTH_CLIENT_ID */
  clientId: string;
  /** GET endpoint answering {account:{email,uuid}} for a Bearer access token (ANTHROPIC_BASE_URL + /api/oauth/profile). */
  profileUrl?: URL;
  /** Deadline of one token request. Default 30 s. */
  timeoutMs?: number;
  now?: () => number;
}

const TokenAnswerSchema = z.object({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.number().positive(),
  account: z.object({ uuid: z.string().optional(), email_address: z.string().optional() }).optional(),
});

const ErrorAnswerSchema = z.object({ error: z.string() });

const ProfileSchema = z.object({ account: z.object({ email: z.string().optional(), uuid: z.string().optional() }) });

function classify(res: JsonResponse, previousRefresh: string | undefined, now: number): TokenResult {
  const { status } = res;
  if (status >= 200 && status < 300) {
    const answer = TokenAnswerSchema.safeParse(res.body);
    const refresh = answer.success ? (answer.data.refresh_token ?? previousRefresh) : undefined;
    // A 2xx we cannot read may have spent the refresh token; retrying is the only move left.
    if (!answer.success || refresh === undefined) return { kind: 'transient', status, reason: 'malformed' };
    const { access_token, expires_in, account } = answer.data;
    const credential: OAuthCredential = {
      type: 'oauth',
      refresh,
      access: access_token,
      expires: Math.floor(now + expires_in * 1000),
    };
    return {
      kind: 'ok',
      credential,
      ...(account?.email_address ? { email: account.email_address } : {}),
      ...(account?.uuid ? { accountUuid: account.uuid } : {}),
    };
  }
  const error = ErrorAnswerSchema.safeParse(res.body);
  const code = error.success ? error.data.error : undefined;
  if (status === 400 && code === 'invalid_grant') return { kind: 'invalid_grant' };
  if (status === 429 || status >= 500) {
    const after = parseRateLimitHeaders(res.headers, now).retryAfterMs;
    return { kind: 'transient', status, reason: 'status', ...(after === undefined ? {} : { retryAfterMs: after }) };
  }
  return { kind: 'rejected', status, ...(code === undefined ? {} : { error: code }) };
}

/**
 * Creates the token endpoint client. Bodies are JSON exactly as docs/ANTHROPIC.md §1; nothing is classified by message text.
 * @example
 * const client = createOAuthClient({ egress, tokenUrl: new URL(config.ANTHROPIC_OAUTH_TOKEN_URL), clientId: config.OAUTH_CLIENT_ID });
 * const result = await client.refresh(refreshToken);
 */
export function createOAuthClient(opts: OAuthClientOptions): OAuthClient {
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 30_000;

  async function post(body: Record<string, string>, previousRefresh?: string): Promise<TokenResult> {
    try {
      const res = await requestJson(opts.egress, { method: 'POST', url: opts.tokenUrl, body, timeoutMs });
      return classify(res, previousRefresh, now());
    } catch (err) {
      const reason = err instanceof HttpCallError ? err.code : 'network';
      return { kind: 'transient', reason };
    }
  }

  return {
    refresh: (refreshToken) =>
      post({ grant_type: 'refresh_token', refresh_token: refreshToken, client_id: opts.clientId }, refreshToken),
    exchangeCode: ({ code, verifier, state, redirectUri }) =>
      post({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        client_id: opts.clientId,
        code_verifier: verifier,
        state,
      }),
    async profile(accessToken) {
      if (!opts.profileUrl) return undefined;
      try {
        const headers = { authorization: `Bearer ${accessToken}`, 'anthropic-beta': OAUTH_BETA };
        const res = await requestJson(opts.egress, { method: 'GET', url: opts.profileUrl, headers, timeoutMs });
        const parsed = ProfileSchema.safeParse(res.body);
        if (res.status !== 200 || !parsed.success) return undefined;
        const { email, uuid } = parsed.data.account;
        return { ...(email ? { email } : {}), ...(uuid ? { accountUuid: uuid } : {}) };
      } catch {
        return undefined;
      }
    },
  };
}
