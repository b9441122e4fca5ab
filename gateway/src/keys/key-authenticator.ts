// Authenticates gateway keys on the request path: a checksum test, one hash, then a local cache in front of
// one Redis GET by digest. Positive and negative answers are cached alike, so unknown and revoked keys cost the same.
import { LRUCache } from 'lru-cache';
import { AppError, withDeadline, type Keyspace, type KeyValueStore, type Logger } from '@switchyard/shared';
import { isWellFormedGatewayKey, keyDigest } from './gateway-key.js';
import { parseKeyRecord, type KeyRecord } from './key-record.js';

/** The outcome of authenticate(). */
export type AuthResult = { ok: true; key: KeyRecord } | { ok: false; error: AppError };

/** Turns a presented key into its record, or a 401 (503 when Redis cannot answer for a key never seen). */
export interface KeyAuthenticator {
  authenticate(presented: string | undefined): Promise<AuthResult>;
  /** Drops the cache and gives up the lookups in flight; later lookups still work, uncached. */
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
  return new CachedKeyAuthenticator(deps);
}

/** Keys by digest: two bounded caches (known keys, unknown digests) that fetch through one deadline-bound Redis GET. */
export class CachedKeyAuthenticator implements KeyAuthenticator {
  readonly #store: Pick<KeyValueStore, 'get'>;
  readonly #keys: Pick<Keyspace, 'keyByDigest'>;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #refreshAfterMs: number;
  readonly #timeoutMs: number;
  readonly #staleMs: number;
  #degraded = false;
  #lastFailureLog = -Infinity;
  #stopped = false;
  // Known keys and unknown digests are bounded apart, so junk keys cannot evict real ones. The cache fetches: one
  // lookup per digest at a time (callers share it), the entry served meanwhile when asked to, and kept (and handed
  // back) when the lookup fails. Every age decision is ours, from fetchedAt (see #entryFor): the cache has no TTL.
  readonly #known: LRUCache<string, Entry>;
  readonly #unknown: LRUCache<string, Entry>;

  constructor(deps: KeyAuthenticatorDeps) {
    this.#store = deps.store;
    this.#keys = deps.keys;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#ttlMs = deps.cacheTtlMs ?? 3_000;
    this.#refreshAfterMs = deps.refreshAfterMs ?? Math.floor(this.#ttlMs / 3);
    this.#timeoutMs = deps.lookupTimeoutMs ?? 250;
    this.#staleMs = Math.max(deps.staleIfErrorMs ?? 15 * 60_000, this.#ttlMs);
    const cacheOptions: LRUCache.Options<string, Entry, unknown> = {
      max: deps.maxEntries ?? 20_000,
      fetchMethod: (digest) => this.#lookup(digest),
      allowStaleOnFetchRejection: true,
      // A lookup whose entry is evicted meanwhile (a flood of unknown digests) still answers its callers, as the
      // in-flight map before lru-cache did: without this they would get undefined, and a 503 with Redis fine.
      ignoreFetchAbort: true,
    };
    this.#known = new LRUCache<string, Entry>(cacheOptions);
    this.#unknown = new LRUCache<string, Entry>(cacheOptions);
  }

  async authenticate(presented: string | undefined): Promise<AuthResult> {
    if (presented === undefined || presented === '') return fail(MISSING);
    // Hash before the shape test, so a malformed key costs what a well-formed one does up to the lookup.
    const digest = keyDigest(presented);
    if (!isWellFormedGatewayKey(presented)) return fail(INVALID);
    const entry = await this.#entryFor(digest);
    if (entry === undefined) {
      return {
        ok: false,
        error: new AppError('unavailable', 'Key store unreachable; retry shortly', { retryAfterSec: 1 }),
      };
    }
    return this.#verdict(entry.record);
  }

  stop(): void {
    this.#stopped = true;
    this.#known.clear();
    this.#unknown.clear();
  }

  async #entryFor(digest: string): Promise<Entry | undefined> {
    if (this.#stopped) return this.#lookup(digest).catch(() => undefined);
    const cache = this.#known.has(digest) ? this.#known : this.#unknown;
    const entry = cache.peek(digest);
    const age = entry === undefined ? Infinity : this.#now() - entry.fetchedAt;
    // Served as it is (with a re-read in the background once it is refreshAfterMs old) while younger than the TTL,
    // or than staleIfErrorMs while Redis fails; otherwise the request waits for the lookup.
    const serve = entry !== undefined && (age < this.#ttlMs || (this.#degraded && age < this.#staleMs));
    const fetched = await cache.fetch(digest, { forceRefresh: age >= this.#refreshAfterMs, allowStale: serve });
    // Served as it was, or the lookup failed and the cache handed back what it had: good while younger than staleIfErrorMs.
    if (fetched === entry) return age < this.#staleMs ? entry : undefined;
    const home = fetched?.record === null ? this.#unknown : this.#known;
    if (fetched !== undefined && home !== cache) {
      cache.delete(digest);
      home.set(digest, fetched);
    }
    return fetched;
  }

  // One Redis GET, bounded by the timeout.
  async #lookup(digest: string): Promise<Entry> {
    const fetchedAt = this.#now();
    try {
      const raw = await withDeadline(this.#store.get(this.#keys.keyByDigest(digest)), this.#timeoutMs, 'key lookup');
      this.#degraded = false;
      return { record: this.#toRecord(digest, raw), fetchedAt };
    } catch (err) {
      this.#noteFailure(err);
      throw err;
    }
  }

  #toRecord(digest: string, raw: string | null): KeyRecord | null {
    if (raw === null) return null;
    const record = parseKeyRecord(raw);
    if (record?.digest === digest) return record;
    this.#log.error('stored key record is unreadable', { digestPrefix: digest.slice(0, 8) });
    return null;
  }

  #noteFailure(err: unknown): void {
    this.#degraded = true;
    const t = this.#now();
    if (t - this.#lastFailureLog < FAILURE_LOG_INTERVAL_MS) return;
    this.#lastFailureLog = t;
    this.#log.warn('key lookup failed', {
      error: err instanceof Error ? err.name : 'unknown',
      detail: err instanceof Error ? err.message : String(err),
    });
  }

  #verdict(record: KeyRecord | null): AuthResult {
    if (record === null) return fail(INVALID);
    const reason = !record.enabled
      ? 'disabled'
      : record.expiresAt !== null && this.#now() >= record.expiresAt
        ? 'expired'
        : undefined;
    if (reason === undefined) return { ok: true, key: record };
    this.#log.debug('key refused', { keyId: record.id, reason });
    return fail(INVALID);
  }
}
