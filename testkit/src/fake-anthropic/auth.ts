// Credential checks as the real API makes them (docs/ANTHROPIC.md §2): Bearer OAuth tokens need the oauth beta.
import type { IncomingHttpHeaders } from 'node:http';
import type { AccountState, AccountStore } from './accounts.js';
import type { AuthKind } from './types.js';

/** The beta that makes the API accept OAuth access tokens. */
import { OAUTH_BETA } from '@switchyard/shared';

export { OAUTH_BETA };

/** Messages the real API uses; clients classify by status, but humans read these. */
export const AUTH_MESSAGES = {
  oauthNotSupported: 'OAuth authentication is currently not supported.',
  expired: 'OAuth token has expired. Please obtain a new token or refresh your existing token.',
  invalidBearer: 'Invalid bearer token',
  invalidApiKey: 'invalid x-api-key',
  missing: 'x-api-key header is required',
  both: 'Send either x-api-key or Authorization, not both.',
} as const;

/** The credential a request carried, as headers show it. */
export interface PresentedCredential {
  authKind: AuthKind;
  bearer?: string;
  apiKey?: string;
}

/** Reads the credential headers. */
export function presentedCredential(headers: IncomingHttpHeaders): PresentedCredential {
  const authorization = headers.authorization;
  const apiKey = typeof headers['x-api-key'] === 'string' ? headers['x-api-key'] : undefined;
  const match = typeof authorization === 'string' ? /^Bearer\s+(.+)$/i.exec(authorization) : null;
  const bearer = match?.[1]?.trim();
  const credential: PresentedCredential = { authKind: bearer ? 'bearer' : apiKey ? 'api_key' : 'none' };
  if (bearer) credential.bearer = bearer;
  if (apiKey) credential.apiKey = apiKey;
  return credential;
}

/** The comma-separated anthropic-beta values. */
export function betasOf(headers: IncomingHttpHeaders): string[] {
  const raw = headers['anthropic-beta'];
  const joined = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  return joined
    .split(',')
    .map((beta) => beta.trim())
    .filter((beta) => beta.length > 0);
}

/** The outcome of authenticating a /v1 request. */
export type AuthResult = { ok: true; account: AccountState; usedApiKey: boolean } | { ok: false; message: string };

/** Authenticates a /v1 request: an API key (x-api-key, or Bearer holding a key) or an OAuth access token. */
export function authenticate(credential: PresentedCredential, betas: string[], accounts: AccountStore): AuthResult {
  const { bearer, apiKey } = credential;
  if (bearer && apiKey) return { ok: false, message: AUTH_MESSAGES.both };
  if (apiKey) {
    const account = accounts.findByApiKey(apiKey);
    return account ? { ok: true, account, usedApiKey: true } : { ok: false, message: AUTH_MESSAGES.invalidApiKey };
  }
  if (!bearer) return { ok: false, message: AUTH_MESSAGES.missing };
  const keyAccount = accounts.findByApiKey(bearer);
  if (keyAccount) return { ok: true, account: keyAccount, usedApiKey: true };
  if (!betas.includes(OAUTH_BETA)) return { ok: false, message: AUTH_MESSAGES.oauthNotSupported };
  return bearerAccount(bearer, accounts);
}

/** Resolves an OAuth access token (no beta check): the companion endpoints use it too. */
export function bearerAccount(bearer: string | undefined, accounts: AccountStore): AuthResult {
  if (!bearer) return { ok: false, message: AUTH_MESSAGES.invalidBearer };
  const found = accounts.lookupAccessToken(bearer);
  if (!found) return { ok: false, message: AUTH_MESSAGES.invalidBearer };
  if (found.expired) return { ok: false, message: AUTH_MESSAGES.expired };
  return { ok: true, account: found.account, usedApiKey: false };
}
