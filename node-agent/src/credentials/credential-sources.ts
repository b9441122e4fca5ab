import { readFile } from 'node:fs/promises';
import type { Logger } from '@switchyard/shared';
import type { CredentialFile } from './credential-file.js';
import {
  CredentialError,
  parseCredentialText,
  refreshOnlyCredential,
  sameCredential,
  type OAuthCredential,
} from './oauth-credential.js';
import type { SealedCopy } from './sealed-copy.js';

/** Where a credential candidate came from. */
export type CandidateOrigin = 'volume' | 'sealed' | 'file' | 'env';

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
  /** The record on the node's volume. */
  file: CredentialFile;
  /** The gateway's sealed copy. */
  copy: Pick<SealedCopy, 'load' | 'save'>;
  log: Logger;
}

/** The credential the node starts with, and the other refresh tokens to fall back on. */
export interface BootstrapResult {
  credential: OAuthCredential;
  /** Human description of the winning source. */
  source: string;
  /** Distinct refresh tokens of the other sources, newest first: tried if the chosen one is refused with invalid_grant. */
  fallbackRefreshTokens: string[];
}

// Ties go to the node's own record first, then to its sealed copy.
const ORIGIN_RANK: Record<CandidateOrigin, number> = { volume: 0, sealed: 1, file: 2, env: 3 };

/** Orders candidates newest first (latest expiry; a bare refresh token, expires 0, last). */
export function rankCandidates(candidates: readonly CredentialCandidate[]): CredentialCandidate[] {
  return [...candidates].sort(
    (a, b) => b.credential.expires - a.credential.expires || ORIGIN_RANK[a.origin] - ORIGIN_RANK[b.origin],
  );
}

/**
 * Reads CLAUDE_CREDENTIALS_FILE. The file is only ever read: it may belong to another program (opencode,
 * Claude Code) or be mounted read-only, so the node keeps its own record on its volume instead.
 */
async function readCredentialsFile(path: string): Promise<OAuthCredential> {
  const source = `CLAUDE_CREDENTIALS_FILE=${path}`;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CredentialError(
      'unreadable',
      `${source}: cannot read the file (${code}). Fix: point CLAUDE_CREDENTIALS_FILE at a readable credentials file, or unset it.`,
    );
  }
  return parseCredentialText(text, source);
}

interface Collected {
  candidates: CredentialCandidate[];
  /** Sources that exist but cannot be used (the volume record is replaced when another candidate exists). */
  broken: string[];
}

async function collect(deps: BootstrapDeps): Promise<Collected> {
  const { config, file } = deps;
  const candidates: CredentialCandidate[] = [];
  const broken: string[] = [];
  if (config.CLAUDE_REFRESH_TOKEN !== undefined) {
    candidates.push({
      origin: 'env',
      source: 'CLAUDE_REFRESH_TOKEN',
      credential: refreshOnlyCredential(config.CLAUDE_REFRESH_TOKEN.trim()),
    });
  }
  if (config.CLAUDE_CREDENTIALS_FILE !== undefined) {
    const path = config.CLAUDE_CREDENTIALS_FILE;
    candidates.push({
      origin: 'file',
      source: `CLAUDE_CREDENTIALS_FILE=${path}`,
      credential: await readCredentialsFile(path),
    });
  }
  try {
    const stored = await file.read();
    if (stored) candidates.push({ origin: 'volume', source: `volume record ${file.path}`, credential: stored });
  } catch (err) {
    broken.push(
      `volume record ${file.path} (${err instanceof CredentialError ? 'malformed' : ((err as NodeJS.ErrnoException).code ?? 'unreadable')})`,
    );
  }
  try {
    const sealed = await deps.copy.load();
    if (sealed) candidates.push({ origin: 'sealed', source: "the gateway's sealed copy", credential: sealed });
  } catch (err) {
    broken.push(`the gateway's sealed copy (${(err as Error).message})`);
  }
  return { candidates, broken };
}

function noCredentialError(deps: BootstrapDeps, broken: readonly string[]): CredentialError {
  const found = broken.length > 0 ? ` (unusable: ${broken.join('; ')})` : '';
  return new CredentialError(
    'missing',
    `Node ${deps.nodeId} has no account${found}. Fix: set ANTHROPIC_API_KEY, or CLAUDE_REFRESH_TOKEN, or CLAUDE_CREDENTIALS_FILE ` +
      `(an opencode or Claude Code credentials file), or run the node-agent login command to store a login in ${deps.file.path}.`,
  );
}

/**
 * Picks the newest credential among CLAUDE_REFRESH_TOKEN, CLAUDE_CREDENTIALS_FILE, the volume record and the gateway's
 * sealed copy, writes it to the volume and re-seals it (when the copy differs: missing, older, or sealed under a
 * rotated token). Never writes CLAUDE_CREDENTIALS_FILE.
 * @throws CredentialError when no source holds a credential, CLAUDE_CREDENTIALS_FILE is unreadable or malformed,
 * or the volume cannot be written.
 */
export async function bootstrapCredential(deps: BootstrapDeps): Promise<BootstrapResult> {
  const { candidates, broken } = await collect(deps);
  const ranked = rankCandidates(candidates);
  const chosen = ranked[0];
  if (!chosen) throw noCredentialError(deps, broken);
  if (broken.length > 0) deps.log.warn('credential source unusable', { sources: broken });

  const { credential } = chosen;
  try {
    // Written even when the volume holds it already: in the opencode form, 0600, and proof the volume takes writes.
    await deps.file.write(credential);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new CredentialError(
      'unwritable',
      `Cannot write the credential record ${deps.file.path} (${code}). Fix: mount a writable volume at CREDENTIALS_DIR.`,
    );
  }
  const sealed = candidates.find((c) => c.origin === 'sealed')?.credential;
  if (!sameCredential(sealed, credential)) deps.copy.save(credential);

  const seen = new Set([credential.refresh]);
  const fallbackRefreshTokens: string[] = [];
  for (const c of ranked) {
    if (seen.has(c.credential.refresh)) continue;
    seen.add(c.credential.refresh);
    fallbackRefreshTokens.push(c.credential.refresh);
  }
  deps.log.info('credential loaded', {
    nodeId: deps.nodeId,
    source: chosen.source,
    expiresAt: credential.expires,
    sources: candidates.length,
  });
  return { credential, source: chosen.source, fallbackRefreshTokens };
}
