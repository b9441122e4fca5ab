import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseCredentialText, serializeCredential, type OAuthCredential } from './oauth-credential.js';

/** The node's credential record on its own volume: CREDENTIALS_DIR/<nodeId>.json, opencode JSON, mode 0600. */
export interface CredentialFile {
  readonly path: string;
  /** The stored credential, or undefined when there is no file yet. Throws CredentialError('malformed') for a broken file. */
  read(): Promise<OAuthCredential | undefined>;
  /** Replaces the file atomically and durably: a crash leaves either the old or the new credential, never half of one. */
  write(credential: OAuthCredential): Promise<void>;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Writes `text` to `path` via a temp file in the same directory: write, fsync, rename, fsync the directory. */
export async function writeFileAtomic(path: string, dir: string, text: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const temp = join(dir, `.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // 'wx' refuses to follow a planted file; 0o600 is applied at creation, before any byte is written.
    const handle = await open(temp, 'wx', 0o600);
    try {
      await handle.writeFile(text, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
  // Without this the rename itself may not survive a power loss.
  await fsyncDir(dir);
}

/** The credential record of one node under `dir` (CREDENTIALS_DIR). */
export function createCredentialFile(dir: string, nodeId: string): CredentialFile {
  const path = join(dir, `${nodeId}.json`);
  return {
    path,
    async read() {
      let text: string;
      try {
        text = await readFile(path, 'utf8');
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw err;
      }
      return parseCredentialText(text, `the credential record ${path}`);
    },
    write: (credential) => writeFileAtomic(path, dir, `${serializeCredential(credential)}\n`),
  };
}
