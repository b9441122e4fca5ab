// OAuth: the token endpoint (refresh rotation, PKCE code exchange), the authorize page, profile and usage.
import type { AccountState } from './accounts.js';
import { bearerAccount, OAUTH_BETA, presentedCredential } from './auth.js';
import type { FakeState, RequestContext } from './context.js';
import { OAUTH_SCOPES } from './context.js';
import { anthropicErrorTypeFor, errorEnvelope } from '@switchyard/shared';
import { sendError, sendJson } from './http-io.js';
import type { TokenOutcome, TokenRequestRecord } from './types.js';

type Fields = Record<string, string | undefined>;

function tokenFields(ctx: RequestContext): Fields | undefined {
  const json = ctx.json;
  if (typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const entries = Object.entries(json as Record<string, unknown>);
    return Object.fromEntries(entries.map(([key, value]) => [key, typeof value === 'string' ? value : undefined]));
  }
  if (String(ctx.req.headers['content-type']).includes('x-www-form-urlencoded')) {
    return Object.fromEntries(new URLSearchParams(ctx.body.toString('utf8')));
  }
  return undefined;
}

function tokenResponse(account: AccountState, accessToken: string, refreshToken: string, expiresIn: number) {
  return {
    access_token: accessToken,
    refresh_token: refreshToken,
    expires_in: expiresIn,
    token_type: 'Bearer',
    scope: OAUTH_SCOPES,
    organization: { uuid: account.organizationUuid, name: `${account.email}'s Organization` },
    account: { uuid: account.uuid, email_address: account.email },
  };
}

function invalidGrant(ctx: RequestContext, description: string): TokenOutcome {
  sendJson(ctx.res, 400, { error: 'invalid_grant', error_description: description });
  return 'invalid_grant';
}

/** Runs the grant; answers and returns the outcome. */
function grant(ctx: RequestContext, state: FakeState, fields: Fields): TokenOutcome {
  const { clientId } = state.options;
  if (fields.client_id !== clientId) return invalidGrant(ctx, 'Invalid client_id');
  if (fields.grant_type === 'refresh_token') {
    const rotated = state.accounts.rotateRefreshToken(fields.refresh_token ?? '');
    if (!rotated) return invalidGrant(ctx, 'Refresh token not found or invalid');
    const { account, accessToken, refreshToken, expiresIn } = rotated;
    sendJson(ctx.res, 200, tokenResponse(account, accessToken, refreshToken, expiresIn));
    return 'ok';
  }
  if (fields.grant_type === 'authorization_code') {
    const accountId = state.codes.redeem({
      code: fields.code ?? '',
      codeVerifier: fields.code_verifier ?? '',
      redirectUri: fields.redirect_uri ?? '',
      ...(fields.state !== undefined ? { state: fields.state } : {}),
    });
    if (accountId === undefined) return invalidGrant(ctx, 'Invalid authorization code');
    const access = state.accounts.issueAccessToken(accountId);
    const refresh = state.accounts.issueRefreshToken(accountId);
    const account = state.accounts.get(accountId);
    sendJson(ctx.res, 200, tokenResponse(account, access.token, refresh, state.options.accessTokenTtlSec));
    return 'ok';
  }
  sendJson(ctx.res, 400, { error: 'unsupported_grant_type', error_description: 'Unsupported grant_type' });
  return 'unsupported_grant_type';
}

/** POST /v1/oauth/token */
export function handleToken(ctx: RequestContext, state: FakeState): void {
  const fields = tokenFields(ctx) ?? {};
  const record: TokenRequestRecord = { remoteAddress: ctx.record.remoteAddress, outcome: 'ok', receivedAt: Date.now() };
  if (fields.grant_type) record.grantType = fields.grant_type;
  if (fields.refresh_token) record.refreshToken = fields.refresh_token;
  if (fields.code) record.code = fields.code;
  if (fields.client_id) record.clientId = fields.client_id;
  const accountId = fields.refresh_token
    ? state.accounts.accountForRefreshToken(fields.refresh_token)?.id
    : state.codes.accountFor(fields.code ?? '');
  if (accountId) record.accountId = accountId;
  record.outcome = answerToken(ctx, state, fields, accountId);
  if (record.outcome !== 'timeout') record.status = ctx.res.statusCode;
  state.recorder.addTokenRequest(record);
  state.emit('token-request', record);
}

function answerToken(ctx: RequestContext, state: FakeState, fields: Fields, accountId?: string): TokenOutcome {
  const target = { route: 'token' as const, ...(accountId ? { accountId } : {}) };
  const fault = state.faults.take(target, ['token_error', 'token_timeout', 'token_invalid_grant']);
  // A timeout never answers: the connection stays open until the client gives up or the fake stops.
  if (fault?.kind === 'token_timeout') return 'timeout';
  if (fault?.kind === 'token_invalid_grant') {
    invalidGrant(ctx, 'Refresh token not found or invalid');
    return 'fault';
  }
  if (fault?.kind === 'token_error') {
    const headers: Record<string, string> = fault.status === 429 ? { 'retry-after': '30' } : {};
    const type = anthropicErrorTypeFor(fault.status);
    sendJson(ctx.res, fault.status, errorEnvelope(type, 'Token endpoint unavailable', ctx.requestId), { headers });
    return 'fault';
  }
  if (!fields.grant_type) {
    sendJson(ctx.res, 400, { error: 'invalid_request', error_description: 'grant_type is required' });
    return 'invalid_request';
  }
  return grant(ctx, state, fields);
}

function defaultOAuthAccount(state: FakeState): AccountState | undefined {
  return state.accounts.list().find((account) => account.kind === 'oauth');
}

/** GET /oauth/authorize: approves at once and shows `code#state` (or redirects to a loopback callback). */
export function handleAuthorize(ctx: RequestContext, state: FakeState): void {
  const query = ctx.url.searchParams;
  const problems: [boolean, string][] = [
    [query.get('client_id') !== state.options.clientId, 'client_id'],
    [query.get('response_type') !== 'code', 'response_type'],
    [!query.get('code_challenge'), 'code_challenge'],
    [query.get('code_challenge_method') !== 'S256', 'code_challenge_method'],
    [!query.get('redirect_uri'), 'redirect_uri'],
    [!query.get('state'), 'state'],
  ];
  const problem = problems.find(([bad]) => bad)?.[1];
  const wanted = query.get('account');
  const account = wanted ? state.accounts.list().find((a) => a.id === wanted) : defaultOAuthAccount(state);
  if (problem || !account || account.kind !== 'oauth') {
    ctx.res.writeHead(400, { 'content-type': 'text/plain; charset=utf-8' });
    ctx.res.end(`invalid authorize request: ${problem ?? 'account'}\n`);
    return;
  }
  const redirectUri = query.get('redirect_uri') ?? '';
  const stateParam = query.get('state') ?? '';
  const codeChallenge = query.get('code_challenge') ?? '';
  const code = state.codes.create(account.id, { codeChallenge, state: stateParam, redirectUri });
  if (redirectUri !== state.options.redirectUri) {
    const location = new URL(redirectUri);
    location.searchParams.set('code', code);
    location.searchParams.set('state', stateParam);
    ctx.res.writeHead(302, { location: location.toString() });
    ctx.res.end();
    return;
  }
  ctx.res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  ctx.res.end(`${code}#${stateParam}`);
}

/** GET /api/oauth/profile and GET /api/oauth/usage (the latter needs the oauth beta). */
export function handleOAuthApi(ctx: RequestContext, state: FakeState): void {
  if (ctx.route === 'usage' && !ctx.record.betas.includes(OAUTH_BETA)) {
    return sendError(ctx.res, 401, 'OAuth authentication is currently not supported.', ctx.requestId);
  }
  const result = bearerAccount(presentedCredential(ctx.req.headers).bearer, state.accounts);
  if (!result.ok) return sendError(ctx.res, 401, result.message, ctx.requestId);
  const account = state.accounts.current(result.account.id);
  ctx.record.accountId = account.id;
  if (ctx.route === 'usage') {
    const window = (w: { utilization: number; resetsAt: number }) => ({
      utilization: Math.round(w.utilization * 1000) / 10,
      resets_at: new Date(w.resetsAt * 1000).toISOString(),
    });
    sendJson(ctx.res, 200, {
      five_hour: window(account.fiveHour),
      seven_day: window(account.sevenDay),
      seven_day_oauth_apps: null,
      seven_day_opus: null,
    });
    return;
  }
  sendJson(ctx.res, 200, {
    account: {
      uuid: account.uuid,
      email: account.email,
      display_name: account.id,
      has_claude_max: true,
      has_claude_pro: false,
    },
    organization: {
      uuid: account.organizationUuid,
      name: `${account.email}'s Organization`,
      organization_type: 'claude_max',
      rate_limit_tier: 'default_claude_max_20x',
    },
  });
}
