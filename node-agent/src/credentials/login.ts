import { createHash, randomBytes } from 'node:crypto';
import type { Keyspace, KeyValueStore, Lock, LockStore } from '@switchyard/shared';
import type { Egress } from '../upstream/egress.js';
import { createCredentialFile } from './credential-file.js';
import { createCredentialStore } from './credential-store.js';
import { createOAuthClient, type CodeExchange, type OAuthClient, type TokenResult } from './oauth-client.js';
import type { OAuthCredential } from './oauth-credential.js';

/** The scopes a Claude Code login asks for (PROTOCOL.md §1). */
export const OAUTH_LOGIN_SCOPES = 'user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload';

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
  store: Pick<KeyValueStore, 'get' | 'compareAndSet'> & LockStore;
  keys: Keyspace;
  egress: Egress;
  io: LoginIO;
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

/** The authorize URL of PROTOCOL.md §1 (`code=true` asks for the paste-the-code page). */
export function buildAuthorizeUrl(p: { authorizeUrl: string; clientId: string; redirectUri: string; challenge: string; state: string }): URL {
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
    return new LoginError('code_rejected', 'The code was refused: it is wrong, expired or already used. Run login again and paste the new code promptly.');
  }
  if (result.kind === 'rejected') {
    const detail = result.error === undefined ? '' : ` ${result.error}`;
    return new LoginError('refused', `The token endpoint refused the code exchange (HTTP ${result.status}${detail}). Check OAUTH_CLIENT_ID and OAUTH_REDIRECT_URI.`);
  }
  const detail = result.status === undefined ? result.reason : `HTTP ${result.status}`;
  return new LoginError('unreachable', `The token endpoint did not answer usefully (${detail}). Check the egress and ANTHROPIC_OAUTH_TOKEN_URL, then run login again.`);
}

// A running node may be refreshing: waiting for its lock keeps the login from racing a rotation.
async function takeLockBriefly(store: LockStore, key: string): Promise<Lock | null> {
  for (let i = 0; i < 650; i++) {
    try {
      const lock = await store.acquireLock(key, 60_000);
      if (lock) return lock;
    } catch {
      return null; // Redis is down: the save below reports it.
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return null;
}

async function save(deps: LoginDeps, credential: OAuthCredential): Promise<void> {
  const nodeId = deps.config.NODE_ID;
  const credentials = createCredentialStore({ store: deps.store, keys: deps.keys, nodeId, file: createCredentialFile(deps.config.CREDENTIALS_DIR, nodeId) });
  try {
    const { raw } = await credentials.read();
    // A fresh login replaces whatever was stored: the operator asked for this account.
    await credentials.save(credential, raw, { overwrite: true });
  } catch {
    throw new LoginError(
      'store_failed',
      `The login succeeded but the credential could not be stored in Redis (${credentials.key}) and ${credentials.file.path}. ` +
        'Check REDIS_URL and CREDENTIALS_DIR, then run login again.',
    );
  }
}

async function exchangeAndSave(deps: LoginDeps, client: OAuthClient, exchange: CodeExchange): Promise<TokenResult> {
  // Holding the node's refresh lock across exchange and save: a running node cannot rotate in between and
  // so ends up adopting this login (the newest pair) instead of overwriting it.
  const lock = await takeLockBriefly(deps.store, deps.keys.credLock(deps.config.NODE_ID));
  try {
    const result = await client.exchangeCode(exchange);
    if (result.kind === 'ok') await save(deps, result.credential);
    return result;
  } finally {
    await lock?.release().catch(() => false);
  }
}

/**
 * The login command: authorization code with PKCE. Prints the authorize URL, reads the pasted `code#state`,
 * exchanges it through the node's egress, stores the credential (Redis record + mirror) and prints the email.
 * @throws LoginError with a one-line message for the operator.
 */
export async function runLogin(deps: LoginDeps): Promise<{ email?: string }> {
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
  const url = buildAuthorizeUrl({ authorizeUrl: config.OAUTH_AUTHORIZE_URL, clientId: config.OAUTH_CLIENT_ID, redirectUri, challenge, state });
  io.print(`Log in to the Claude account for node ${config.NODE_ID}: open this URL, approve, and copy the code shown.`);
  io.print(url.toString());
  const pasted = parsePastedCode(await io.readLine('Paste the code (code#state): '));
  if (pasted.code === '') throw new LoginError('empty_code', 'No code was pasted. Run login again and paste the whole code#state shown after approving.');
  if (pasted.state !== state) {
    throw new LoginError('state_mismatch', 'The pasted code belongs to a different login attempt (state mismatch). Run login again and paste the code from the URL it prints.');
  }
  const result = await exchangeAndSave(deps, client, { code: pasted.code, verifier, state, redirectUri });
  if (result.kind !== 'ok') throw exchangeFailure(result);
  const email = result.email ?? (await client.profile(result.credential.access))?.email;
  io.print(email === undefined ? `Logged in; credential stored for node ${config.NODE_ID}.` : `Logged in as ${email}; credential stored for node ${config.NODE_ID}.`);
  return email === undefined ? {} : { email };
}
