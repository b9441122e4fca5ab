import { readFile } from 'node:fs/promises';
import type { Logger } from '@switchyard/shared';
import type { CredentialStore } from './credential-store.js';
import { CredentialError, parseCredentialText, refreshOnlyCredential, serializeCredential, type OAuthCredential } from './oauth-credential.js';

/** Where a credential candidate came from. */
export type CandidateOrigin = 'redis' | 'mirror' | 'file' | 'env';

/** One credential found at start, with a description of its source for logs and errors (never the secret). */
export interface CredentialCandidate {
  origin: CandidateOrigin;
  source: string;
  credential: OAuthCredential;
}

/** The OAuth variables of the node's config that name credential sources. */
export interface CredentialSourceConfig {
  CLAUDE_REFRESH_TOKEN?: string | undefined;
  CLAUDE_CREDENTIALS_FILE?: string | undefined;
}

export interface BootstrapDeps {
  nodeId: string;
  config: CredentialSourceConfig;
  credentials: CredentialStore;
  log: Logger;
}

/** The credential the node starts with, where it stands in Redis, and the other refresh tokens to fall back on. */
export interface BootstrapResult {
  credential: OAuthCredential;
  /** Human description of the winning source. */
  source: string;
  /** The exact Redis value after the write-back (the compare-and-set baseline). */
  redisRaw: string | null;
  /** Distinct refresh tokens of the other sources, newest first: tried if the chosen one is refused with invalid_grant. */
  fallbackRefreshTokens: string[];
}

// Ties go to the shared record first: it is what every other holder of the account sees.
const ORIGIN_RANK: Record<CandidateOrigin, number> = { redis: 0, mirror: 1, file: 2, env: 3 };

/** Orders candidates newest first (latest expiry; a bare refresh token, expires 0, last). */
export function rankCandidates(candidates: readonly CredentialCandidate[]): CredentialCandidate[] {
  return [...candidates].sort((a, b) => b.credential.expires - a.credential.expires || ORIGIN_RANK[a.origin] - ORIGIN_RANK[b.origin]);
}

/**
 * Reads CLAUDE_CREDENTIALS_FILE. The file is only ever read: it may belong to another program (opencode,
 * Claude Code) or be mounted read-only, so the node keeps its own copy in Redis and the mirror instead.
 */
async function readCredentialsFile(path: string): Promise<OAuthCredential> {
  const source = `CLAUDE_CREDENTIALS_FILE=${path}`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CredentialError('unreadable', `${source}: cannot read the file (${code}). Fix: point CLAUDE_CREDENTIALS_FILE at a readable credentials file, or unset it.`);
  }
  return parseCredentialText(text, source);
}

interface Collected {
  candidates: CredentialCandidate[];
  redisRaw: string | null;
  /** Sources that exist but cannot be parsed (our own records: they are replaced when another candidate exists). */
  broken: string[];
}

async function collect(deps: BootstrapDeps): Promise<Collected> {
  const { config, credentials } = deps;
  const candidates: CredentialCandidate[] = [];
  const broken: string[] = [];
  if (config.CLAUDE_REFRESH_TOKEN !== undefined) {
    candidates.push({ origin: 'env', source: 'CLAUDE_REFRESH_TOKEN', credential: refreshOnlyCredential(config.CLAUDE_REFRESH_TOKEN.trim()) });
  }
  if (config.CLAUDE_CREDENTIALS_FILE !== undefined) {
    const path = config.CLAUDE_CREDENTIALS_FILE;
    candidates.push({ origin: 'file', source: `CLAUDE_CREDENTIALS_FILE=${path}`, credential: await readCredentialsFile(path) });
  }
  const record = await credentials.read();
  if (record.credential) candidates.push({ origin: 'redis', source: `Redis key ${credentials.key}`, credential: record.credential });
  else if (record.raw !== null) broken.push(`Redis key ${credentials.key}`);
  try {
    const mirrored = await credentials.file.read();
    if (mirrored) candidates.push({ origin: 'mirror', source: `mirror file ${credentials.file.path}`, credential: mirrored });
  } catch {
    broken.push(`mirror file ${credentials.file.path}`);
  }
  return { candidates, redisRaw: record.raw, broken };
}

function noCredentialError(deps: BootstrapDeps, broken: readonly string[]): CredentialError {
  const found = broken.length > 0 ? ` (unusable: ${broken.join(', ')})` : '';
  return new CredentialError(
    'missing',
    `Node ${deps.nodeId} has no account${found}. Fix: set ANTHROPIC_API_KEY, or CLAUDE_REFRESH_TOKEN, or CLAUDE_CREDENTIALS_FILE ` +
      `(an opencode or Claude Code credentials file), or run the node-agent login command to store a login under ${deps.credentials.key}.`,
  );
}

/**
 * Picks the newest credential among CLAUDE_REFRESH_TOKEN, CLAUDE_CREDENTIALS_FILE, the Redis record and the mirror
 * file, and writes it back to Redis (compare-and-set, newest wins) and the mirror. Never writes CLAUDE_CREDENTIALS_FILE.
 * @throws CredentialError when no source holds a credential, or CLAUDE_CREDENTIALS_FILE is unreadable or malformed.
 */
export async function bootstrapCredential(deps: BootstrapDeps): Promise<BootstrapResult> {
  const { candidates, redisRaw, broken } = await collect(deps);
  const ranked = rankCandidates(candidates);
  const chosen = ranked[0];
  if (!chosen) throw noCredentialError(deps, broken);
  if (broken.length > 0) deps.log.warn('credential source unusable, replacing it', { sources: broken });

  const mirror = candidates.find((c) => c.origin === 'mirror');
  const wanted = serializeCredential(chosen.credential);
  let credential = chosen.credential;
  let raw = redisRaw;
  if (redisRaw !== wanted || mirror === undefined || serializeCredential(mirror.credential) !== wanted) {
    const outcome = await deps.credentials.save(chosen.credential, redisRaw);
    raw = outcome.raw;
    // Another holder stored a newer pair between our read and our write: that one is live.
    if (outcome.kind === 'superseded') {
      credential = outcome.credential;
      await deps.credentials.file.write(credential);
    }
  }
  const seen = new Set([credential.refresh]);
  const fallbackRefreshTokens: string[] = [];
  for (const c of ranked) {
    if (seen.has(c.credential.refresh)) continue;
    seen.add(c.credential.refresh);
    fallbackRefreshTokens.push(c.credential.refresh);
  }
  deps.log.info('credential loaded', { nodeId: deps.nodeId, source: credential === chosen.credential ? chosen.source : 'Redis (newer, concurrent write)', expiresAt: credential.expires, sources: candidates.length });
  return { credential, source: chosen.source, redisRaw: raw, fallbackRefreshTokens };
}
