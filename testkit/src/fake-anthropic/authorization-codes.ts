// Single-use, expiring OAuth authorization codes bound to a PKCE S256 challenge.
import { createHash } from 'node:crypto';
import { newAuthorizationCode } from './ids.js';

interface PendingCode {
  accountId: string;
  codeChallenge: string;
  state: string;
  redirectUri: string;
  expiresAt: number;
}

/** What a token request presents to redeem a code. */
export interface CodeRedemption {
  code: string;
  codeVerifier: string;
  redirectUri: string;
  state?: string;
}

/** Codes issued by the authorize endpoint (or directly by a test). */
export interface AuthorizationCodes {
  create(accountId: string, params: { codeChallenge: string; state: string; redirectUri: string }): string;
  accountFor(code: string): string | undefined;
  /** The account id on success (the code is then spent); undefined when anything does not match. */
  redeem(redemption: CodeRedemption): string | undefined;
}

/** base64url(sha256(verifier)) without padding, as PKCE S256 specifies. */
export function pkceChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

/** Creates the code registry. */
export function createAuthorizationCodes(options: { ttlSec: number; now?: () => number }): AuthorizationCodes {
  const now = options.now ?? Date.now;
  const codes = new Map<string, PendingCode>();

  return {
    create(accountId, params) {
      const code = newAuthorizationCode();
      codes.set(code, { accountId, ...params, expiresAt: now() + options.ttlSec * 1000 });
      return code;
    },
    accountFor(code) {
      return codes.get(code)?.accountId;
    },
    redeem({ code, codeVerifier, redirectUri, state }) {
      const pending = codes.get(code);
      if (!pending) return undefined;
      if (pending.expiresAt <= now()) {
        codes.delete(code);
        return undefined;
      }
      const ok =
        pkceChallenge(codeVerifier) === pending.codeChallenge &&
        redirectUri === pending.redirectUri &&
        (state === undefined || state === pending.state);
      if (!ok) return undefined;
      codes.delete(code);
      return pending.accountId;
    },
  };
}
