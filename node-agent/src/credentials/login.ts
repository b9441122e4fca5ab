import { createHash, randomBytes } from 'node:crypto';
import type { Egress } from '../upstream/egress.js';
import { createCredentialFile } from './credential-file.js';
import { createOAuthClient, type OAuthClient, type TokenResult } from './oauth-client.js';
import type { OAuthCredential } from './oauth-credential.js';
import type { SealedCopy } from './sealed-copy.js';

/** The scopes a Claude Code login asks for (docs/ANTHROPIC.md §1). */
export const OAUTH_LOGIN_SCOPES =
  'user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload';

/** The terminal the login talks to. */
export interface LoginIO {
  print(line: string): void;
  readLine(prompt: string): Promise<string>;
}

/** The node config the login needs (a NodeConfig fits). */
export interface LoginConfig {
  NODE_ID: string;
  OAUTH_AUTHORIZE_URL: string;
  OAUTH_REDIRECT_URI: string;
  OAUTH_CLIENT_ID: string;
  ANTHROPIC_OAUTH_TOKEN_URL: string;
  ANTHROPIC_BASE_URL: string;
  CREDENTIALS_DIR: string;
}

export interface LoginDeps {
  config: LoginConfig;
  egress: Egress;
  io: LoginIO;
  /** The gateway's sealed copy (needs GATEWAY_URL and NODE_TOKEN); without it the login is stored on the volume only. */
  copy?: Pick<SealedCopy, 'save' | 'flush'>;
  /** How long to wait for the gateway to take the sealed copy. Default 15 s. */
  sealWaitMs?: number;
  /** Default: a client on config's token and profile URLs over `egress`. */
  client?: OAuthClient;
}

/** Why a login failed; the message is one line for the operator, without a stack or any secret. */
export class LoginError extends Error {
  override readonly name = 'LoginError';
  constructor(
    readonly code: 'empty_code' | 'state_mismatch' | 'code_rejected' | 'refused' | 'unreachable' | 'store_failed',
    message: string,
  ) {
    super(message);
  }
}

/** A PKCE pair: the verifier stays here, the S256 challenge goes into the authorize URL. */
export function createPkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The authorize URL of docs/ANTHROPIC.md §1 (`code=true` asks for the paste-the-code page). */
export function buildAuthorizeUrl(p: {
  authorizeUrl: string;
  clientId: string;
  redirectUri: string;
  challenge: string;
  state: string;
}): URL {
  const url = new URL(p.authorizeUrl);
  const params: [string, string][] = [
    ['code', 'true'],
    ['client_id', p.clientId],
    ['response_type', 'code'],
    ['redirect_uri', p.redirectUri],
    ['scope', OAUTH_LOGIN_SCOPES],
    ['code_challenge', p.challenge],
    ['code_challenge_method', 'S256'],
    ['state', p.state],
  ];
  for (const [name, value] of params) url.searchParams.set(name, value);
  return url;
}

/** Splits what the user pasted: `code#state`, or a whole callback URL carrying ?code=…&state=…. */
export function parsePastedCode(text: string): { code: string; state: string | undefined } {
  const trimmed = text.trim();
  if (/^https?:\/\//i.test(trimmed)) {
    const url = new URL(trimmed);
    return { code: url.searchParams.get('code') ?? '', state: url.searchParams.get('state') ?? undefined };
  }
  const hash = trimmed.indexOf('#');
  if (hash < 0) return { code: trimmed, state: undefined };
  return { code: trimmed.slice(0, hash).trim(), state: trimmed.slice(hash + 1).trim() };
}

function exchangeFailure(result: Exclude<TokenResult, { kind: 'ok' }>): LoginError {
  if (result.kind === 'invalid_grant') {
    return new LoginError(
      'code_rejected',
      'The code was refused: it is wrong, expired or already used. Run login again and paste the new code promptly.',
    );
  }
  if (result.kind === 'rejected') {
    const detail = result.error === undefined ? '' : ` ${result.error}`;
    return new LoginError(
      'refused',
      `The token endpoint refused the code exchange (HTTP ${result.status}${detail}). Check OAUTH_CLIENT_ID and OAUTH_REDIRECT_URI.`,
    );
  }
  const detail = result.status === undefined ? result.reason : `HTTP ${result.status}`;
  return new LoginError(
    'unreachable',
    `The token endpoint did not answer usefully (${detail}). Check the egress and ANTHROPIC_OAUTH_TOKEN_URL, then run login again.`,
  );
}

async function store(deps: LoginDeps, credential: OAuthCredential): Promise<string> {
  const file = createCredentialFile(deps.config.CREDENTIALS_DIR, deps.config.NODE_ID);
  try {
    // A fresh login replaces whatever was stored: the operator asked for this account. A running node sees the
    // record change on its volume and adopts it (the gateway lets only one process per node id run, so no lock).
    await file.write(credential);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new LoginError(
      'store_failed',
      `The login succeeded but the credential could not be written to ${file.path} (${code}). Check CREDENTIALS_DIR, then run login again.`,
    );
  }
  return file.path;
}

/**
 * The login command: authorization code with PKCE. Prints the authorize URL, reads the pasted `code#state`,
 * exchanges it through the node's egress, stores the credential on the node's volume (CREDENTIALS_DIR/<NODE_ID>.json),
 * seals it to the gateway when a sealed copy is given, and prints the email.
 * @throws LoginError with a one-line message for the operator.
 */
export async function runLogin(deps: LoginDeps): Promise<{ email?: string; sealed: boolean }> {
  const { config, io } = deps;
  const client =
    deps.client ??
    createOAuthClient({
      egress: deps.egress,
      tokenUrl: new URL(config.ANTHROPIC_OAUTH_TOKEN_URL),
      clientId: config.OAUTH_CLIENT_ID,
      profileUrl: new URL('/api/oauth/profile', config.ANTHROPIC_BASE_URL),
    });
  const { verifier, challenge } = createPkce();
  const state = randomBytes(32).toString('base64url');
  const redirectUri = config.OAUTH_REDIRECT_URI;
  const url = buildAuthorizeUrl({
    authorizeUrl: config.OAUTH_AUTHORIZE_URL,
    clientId: config.OAUTH_CLIENT_ID,
    redirectUri,
    challenge,
    state,
  });
  io.print(`Log in to the Claude account for node ${config.NODE_ID}: open this URL, approve, and copy the code shown.`);
  io.print(url.toString());
  const pasted = parsePastedCode(await io.readLine('Paste the code (code#state): '));
  if (pasted.code === '')
    throw new LoginError(
      'empty_code',
      'No code was pasted. Run login again and paste the whole code#state shown after approving.',
    );
  if (pasted.state !== state) {
    throw new LoginError(
      'state_mismatch',
      'The pasted code belongs to a different login attempt (state mismatch). Run login again and paste the code from the URL it prints.',
    );
  }
  const result = await client.exchangeCode({ code: pasted.code, verifier, state, redirectUri });
  if (result.kind !== 'ok') throw exchangeFailure(result);
  const path = await store(deps, result.credential);
  const email = result.email ?? (await client.profile(result.credential.access))?.email;
  const who = email === undefined ? 'Logged in' : `Logged in as ${email}`;
  io.print(`${who}; credential for node ${config.NODE_ID} stored in ${path}.`);
  if (deps.copy === undefined) {
    io.print(
      'GATEWAY_URL and NODE_TOKEN are not set: no sealed copy was sent to the gateway (the node sends one when it starts).',
    );
    return { ...(email === undefined ? {} : { email }), sealed: false };
  }
  deps.copy.save(result.credential);
  const sealed = await deps.copy.flush(deps.sealWaitMs ?? 15_000);
  io.print(
    sealed
      ? 'Sealed copy stored at the gateway.'
      : 'The gateway did not take the sealed copy yet: the node sends it when it next runs.',
  );
  return { ...(email === undefined ? {} : { email }), sealed };
}
