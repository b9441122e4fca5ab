import type { Keyspace, KeyValueStore } from '@switchyard/shared';
import type { CredentialFile } from './credential-file.js';
import { serializeCredential, tryParseCredential, type OAuthCredential } from './oauth-credential.js';

/** The Redis record as read: the exact string (compare-and-set needs it) and what it parses to. */
export interface StoredRecord {
  raw: string | null;
  credential: OAuthCredential | undefined;
}

/** How a save ended: stored, or refused because Redis already holds a newer credential (which the caller should adopt). */
export type SaveOutcome = { kind: 'stored'; raw: string } | { kind: 'superseded'; raw: string; credential: OAuthCredential };

/** The durable homes of one node's credential: the Redis record keys.cred(nodeId) and the mirror file. */
export interface CredentialStore {
  readonly key: string;
  readonly file: CredentialFile;
  read(): Promise<StoredRecord>;
  /**
   * Writes the mirror, then the Redis record by compare-and-set over `expected` (the exact string last read).
   * On a conflict it re-reads: a stored credential with a later expiry wins ('superseded') unless `overwrite`
   * (a fresh login) is set; otherwise it retries over the new value. Both writes are attempted; throws if either failed.
   */
  save(credential: OAuthCredential, expected: string | null, opts?: { overwrite?: boolean }): Promise<SaveOutcome>;
}

const MAX_CAS_ROUNDS = 5;

/** Which credential is newer: the later expiry (a bare refresh token, expires 0, is the oldest). */
export function isNewer(a: OAuthCredential, b: OAuthCredential): boolean {
  return a.expires > b.expires;
}

/** Creates the store of one node's credential. */
export function createCredentialStore(deps: {
  store: Pick<KeyValueStore, 'get' | 'compareAndSet'>;
  keys: Keyspace;
  nodeId: string;
  file: CredentialFile;
}): CredentialStore {
  const key = deps.keys.cred(deps.nodeId);

  async function read(): Promise<StoredRecord> {
    const raw = await deps.store.get(key);
    return { raw, credential: tryParseCredential(raw) };
  }

  async function writeRecord(credential: OAuthCredential, expected: string | null, overwrite: boolean): Promise<SaveOutcome> {
    const next = serializeCredential(credential);
    let current = expected;
    for (let round = 0; round < MAX_CAS_ROUNDS; round++) {
      if (await deps.store.compareAndSet(key, current, next)) return { kind: 'stored', raw: next };
      const stored = await read();
      if (stored.raw === next) return { kind: 'stored', raw: next };
      // A stale writer (an older pair) must never replace a newer one.
      if (!overwrite && stored.credential && stored.raw !== null && isNewer(stored.credential, credential)) {
        return { kind: 'superseded', raw: stored.raw, credential: stored.credential };
      }
      current = stored.raw;
    }
    throw new Error(`the credential record ${key} kept changing during ${MAX_CAS_ROUNDS} compare-and-set rounds`);
  }

  return {
    key,
    file: deps.file,
    read,
    async save(credential, expected, opts = {}) {
      // Settle both before returning, so no mirror write is still running when the next save starts.
      const [mirror, record] = await Promise.allSettled([
        deps.file.write(credential),
        writeRecord(credential, expected, opts.overwrite ?? false),
      ]);
      if (record.status === 'rejected') throw record.reason;
      if (mirror.status === 'rejected') throw mirror.reason;
      return record.value;
    },
  };
}
