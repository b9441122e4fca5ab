import { z } from 'zod';

/**
 * One OAuth login in the opencode format: the shape of the node's credential record on its volume (and,
 * sealed, of the gateway's copy). `expires` is epoch ms; 0 with an empty `access` means "refresh first".
 */
export const OAuthCredentialSchema = z.object({
  type: z.literal('oauth'),
  refresh: z.string().min(1),
  access: z.string(),
  expires: z.number().int().nonnegative(),
});
export type OAuthCredential = z.infer<typeof OAuthCredentialSchema>;

const ClaudeCodeSchema = z.object({
  claudeAiOauth: z.object({
    accessToken: z.string(),
    refreshToken: z.string().min(1),
    expiresAt: z.number().int().nonnegative(),
    scopes: z.array(z.string()).optional(),
  }),
});

const WrappedSchema = z.object({ anthropic: OAuthCredentialSchema });

/** Why a credential could not be used; `code` is what callers branch on, the message is for the operator. */
export type CredentialErrorCode = 'malformed' | 'unreadable' | 'unwritable' | 'missing';

/** A credential source that cannot be used. The message names the source and the fix and never carries a secret. */
export class CredentialError extends Error {
  override readonly name = 'CredentialError';
  constructor(
    readonly code: CredentialErrorCode,
    message: string,
  ) {
    super(message);
  }
}

const FORMATS =
  'expected opencode {"type":"oauth","refresh":…,"access":…,"expires":<epoch ms>} (possibly under "anthropic") ' +
  'or Claude Code {"claudeAiOauth":{"accessToken":…,"refreshToken":…,"expiresAt":…}}';

/** A credential holding only a refresh token: it is refreshed before its first use. */
export function refreshOnlyCredential(refresh: string): OAuthCredential {
  return { type: 'oauth', refresh, access: '', expires: 0 };
}

function fromJson(json: unknown): OAuthCredential | undefined {
  const opencode = OAuthCredentialSchema.safeParse(json);
  if (opencode.success) return opencode.data;
  const wrapped = WrappedSchema.safeParse(json);
  if (wrapped.success) return wrapped.data.anthropic;
  const claude = ClaudeCodeSchema.safeParse(json);
  if (!claude.success) return undefined;
  const c = claude.data.claudeAiOauth;
  return { type: 'oauth', refresh: c.refreshToken, access: c.accessToken, expires: c.expiresAt };
}

/**
 * Reads a stored credential in any accepted format (opencode, opencode under "anthropic", Claude Code).
 * `source` names where the text came from (e.g. `CLAUDE_CREDENTIALS_FILE=/path`) for the error message.
 * @throws CredentialError('malformed') naming the source and the accepted formats, never echoing the text.
 */
export function parseCredentialText(text: string, source: string): OAuthCredential {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    // The parser's own message quotes the input, which may be a token: it is deliberately dropped.
    json = undefined;
  }
  const credential = json === undefined ? undefined : fromJson(json);
  if (credential) return credential;
  throw new CredentialError(
    'malformed',
    `${source}: not a usable OAuth credential (${FORMATS}). Fix: export the credential again in one of these formats, ` +
      'or run the node-agent login command.',
  );
}

/** The opencode JSON of a credential, with a fixed key order so equal credentials serialize equally. */
export function serializeCredential(credential: OAuthCredential): string {
  const { refresh, access, expires } = credential;
  return JSON.stringify({ type: 'oauth', refresh, access, expires });
}

/** Parses a stored record's text, or undefined when it is absent or unusable (callers decide how loud to be). */
export function tryParseCredential(text: string | null | undefined): OAuthCredential | undefined {
  if (text === null || text === undefined) return undefined;
  try {
    return parseCredentialText(text, 'record');
  } catch {
    return undefined;
  }
}

/** Which credential is newer: the later expiry (a bare refresh token, expires 0, is the oldest). */
export function isNewer(a: OAuthCredential, b: OAuthCredential): boolean {
  return a.expires > b.expires;
}

/** Whether two credentials are the same record. */
export function sameCredential(a: OAuthCredential | undefined, b: OAuthCredential | undefined): boolean {
  return a === b || (a !== undefined && b !== undefined && serializeCredential(a) === serializeCredential(b));
}
