// Authenticates gateway keys on the request path: a checksum test, one hash, then a local cache in front of
// one Redis GET by digest. Positive and negative answers are cached alike, so unknown and revoked keys cost the same.
import { AppError, withDeadline, type Keyspace, type KeyValueStore, type Logger } from '@switchyard/shared';
import { isWellFormedGatewayKey, keyDigest } from './gateway-key.js';
import { parseKeyRecord, type KeyRecord } from './key-record.js';

/** The outcome of authenticate(). */
export type AuthResult = { ok: true; key: KeyRecord } | { ok: false; error: AppError };

/** Turns a presented key into its record, or a 401 (503 when Redis cannot answer for a key never seen). */
export interface KeyAuthenticator {
  authenticate(presented: string | undefined): Promise<AuthResult>;
  /** Drops the cache; later lookups still work but nothing in flight repopulates it. */
  stop(): void;
}

/** Dependencies and tuning of createKeyAuthenticator. */
export interface KeyAuthenticatorDeps {
  store: Pick<KeyValueStore, 'get'>;
  keys: Pick<Keyspace, 'keyByDigest'>;
  log: Logger;
  now?: () => number;
  /** Longest time a cached answer is trusted without Redis agreeing: a revoke or edit shows within this (plus one lookup). Default 3000. */
  cacheTtlMs?: number;
  /** Age after which a cached answer is still served but re-read in the background. Default cacheTtlMs / 3. */
  refreshAfterMs?: number;
  /** Longest a request waits on Redis. Default 250. */
  lookupTimeoutMs?: number;
  /** While Redis fails, answers up to this old keep serving (known keys keep working through an outage). Default 15 min. */
  staleIfErrorMs?: number;
  /** Bound of each cache (known keys; unknown digests), so junk keys cannot grow memory or evict real ones. Default 20000. */
  maxEntries?: number;
}

interface Entry {
  record: KeyRecord | null;
  fetchedAt: number;
}

const MISSING = 'Missing API key: send it as x-api-key or Authorization: Bearer';
const INVALID = 'Invalid API key';
const FAILURE_LOG_INTERVAL_MS = 10_000;

function fail(message: string): AuthResult {
  return { ok: false, error: new AppError('unauthenticated', message) };
}

/**
 * The key authenticator. A revoked or edited key takes effect on every instance within `cacheTtlMs` (3 s by
 * default); steadily used keys are re-read in the background, so their requests never wait on Redis.
 */
export function createKeyAuthenticator(deps: KeyAuthenticatorDeps): KeyAuthenticator {
  const { store, keys, log } = deps;
  const now = deps.now ?? Date.now;
  const ttlMs = deps.cacheTtlMs ?? 3_000;
  const refreshAfterMs = deps.refreshAfterMs ?? Math.floor(ttlMs / 3);
  const timeoutMs = deps.lookupTimeoutMs ?? 250;
  const staleMs = Math.max(deps.staleIfErrorMs ?? 15 * 60_000, ttlMs);
  const maxEntries = deps.maxEntries ?? 20_000;
  const known = new Map<string, Entry>();
  const unknown = new Map<string, Entry>();
  const inflight = new Map<string, Promise<Entry>>();
  let degraded = false;
  let lastFailureLog = -Infinity;
  let stopped = false;

  function cached(digest: string): Entry | undefined {
    return known.get(digest) ?? unknown.get(digest);
  }

  function remember(digest: string, entry: Entry): void {
    if (stopped) return;
    const [into, other] = entry.record === null ? [unknown, known] : [known, unknown];
    other.delete(digest);
    into.delete(digest); // re-insert at the end: eviction drops the entry fetched longest ago
    into.set(digest, entry);
    if (into.size > maxEntries) {
      const oldest = into.keys().next();
      if (!oldest.done) into.delete(oldest.value);
    }
  }

  function noteFailure(err: unknown): void {
    degraded = true;
    const t = now();
    if (t - lastFailureLog < FAILURE_LOG_INTERVAL_MS) return;
    lastFailureLog = t;
    log.warn('key lookup failed', {
      error: err instanceof Error ? err.name : 'unknown',
      detail: err instanceof Error ? err.message : String(err),
    });
  }

  function toRecord(digest: string, raw: string | null): KeyRecord | null {
    if (raw === null) return null;
    const record = parseKeyRecord(raw);
    if (record?.digest === digest) return record;
    log.error('stored key record is unreadable', { digestPrefix: digest.slice(0, 8) });
    return null;
  }

  // One lookup per digest at a time, bounded by the timeout; callers share it.
  function lookup(digest: string): Promise<Entry> {
    const running = inflight.get(digest);
    if (running) return running;
    const fetchedAt = now();
    const p = withDeadline(store.get(keys.keyByDigest(digest)), timeoutMs, 'key lookup')
      .then((raw) => {
        const entry = { record: toRecord(digest, raw), fetchedAt };
        degraded = false;
        remember(digest, entry);
        return entry;
      })
      .finally(() => inflight.delete(digest));
    inflight.set(digest, p);
    return p;
  }

  function refreshInBackground(digest: string): void {
    lookup(digest).catch(noteFailure);
  }

  async function entryFor(digest: string): Promise<Entry | undefined> {
    const entry = cached(digest);
    const age = entry === undefined ? Infinity : now() - entry.fetchedAt;
    if (entry && (age < ttlMs || (degraded && age < staleMs))) {
      if (age >= refreshAfterMs) refreshInBackground(digest);
      return entry;
    }
    try {
      return await lookup(digest);
    } catch (err) {
      noteFailure(err);
      return entry && age < staleMs ? entry : undefined;
    }
  }

  function verdict(record: KeyRecord | null): AuthResult {
    if (record === null) return fail(INVALID);
    const reason = !record.enabled
      ? 'disabled'
      : record.expiresAt !== null && now() >= record.expiresAt
        ? 'expired'
        : undefined;
    if (reason === undefined) return { ok: true, key: record };
    log.debug('key refused', { keyId: record.id, reason });
    return fail(INVALID);
  }

  async function authenticate(presented: string | undefined): Promise<AuthResult> {
    if (presented === undefined || presented === '') return fail(MISSING);
    // Hash before the shape test, so a malformed key costs what a well-formed one does up to the lookup.
    const digest = keyDigest(presented);
    if (!isWellFormedGatewayKey(presented)) return fail(INVALID);
    const entry = await entryFor(digest);
    if (entry === undefined) {
      return {
        ok: false,
        error: new AppError('unavailable', 'Key store unreachable; retry shortly', { retryAfterSec: 1 }),
      };
    }
    return verdict(entry.record);
  }

  function stop(): void {
    stopped = true;
    known.clear();
    unknown.clear();
  }

  return { authenticate, stop };
}
