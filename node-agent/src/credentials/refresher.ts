import { setTimeout as delay } from 'node:timers/promises';
import type { Lock, LockStore, Logger } from '@switchyard/shared';
import type { CredentialStore } from './credential-store.js';
import { isNewer } from './credential-store.js';
import type { OAuthClient, TokenResult } from './oauth-client.js';
import { serializeCredential, type OAuthCredential } from './oauth-credential.js';

/** The credential this process holds. The in-memory pair is the truth; Redis and the mirror follow it. */
export interface HeldCredential {
  /** The newest pair: its refresh token is the only live one. */
  credential: OAuthCredential;
  /** The pair handed to requests. It trails `credential` while a new pair is being stored (persist before use). */
  serving: OAuthCredential;
  /** The exact Redis value last read or written: the compare-and-set baseline. */
  redisRaw: string | null;
  /** True while the in-memory pair is not yet stored (Redis or the disk failed). */
  unsaved: boolean;
  /** Refresh tokens already sent and answered: rotation killed them, so they are never sent again. */
  readonly spent: Set<string>;
  /** Other sources' refresh tokens, tried when the current one gets invalid_grant. */
  fallbacks: string[];
  email?: string;
}

/** How one refresh run ended. */
export type RefreshOutcome =
  | { kind: 'fresh' }
  | { kind: 'retry'; reason: 'status' | 'timeout' | 'network' | 'malformed' | 'rejected' | 'lock' | 'error'; status?: number; retryAfterMs?: number }
  | { kind: 'needs_login' };

export interface RefresherDeps {
  held: HeldCredential;
  store: LockStore;
  lockKey: string;
  credentials: CredentialStore;
  client: OAuthClient;
  log: Logger;
  /** Called whenever `held.credential` changed (rotated, or adopted from Redis). */
  onCredential(source: 'rotated' | 'adopted'): void;
  lockTtlMs: number;
  lockWaitMs: number;
  lockPollMs: number;
  random: () => number;
}

/** The refresh protocol under the cross-process lock; single-flight and scheduling live in the account. */
export interface Refresher {
  /**
   * Takes the lock, re-reads Redis (adopting a newer pair someone else stored), and rotates only if `isDue()` still holds.
   * `urgent`: the access token is unusable, so refresh even when Redis (and with it the lock) is unreachable.
   */
  run(isDue: () => boolean, urgent: boolean): Promise<RefreshOutcome>;
  /** Re-reads Redis and adopts a newer, unspent pair; true if it adopted one. Never throws. */
  reconcile(): Promise<boolean>;
  /** Stores the held pair (mirror + Redis, compare-and-set); serialised; false if it could not. Never throws. */
  persist(): Promise<boolean>;
}

const MAX_TOKEN_CALLS = 8;

function errorCode(err: unknown): string {
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : err instanceof Error ? err.name : 'unknown';
}

/** Creates the refresher over the account's held credential. */
export function createRefresher(deps: RefresherDeps): Refresher {
  const { held, log } = deps;
  let persistChain: Promise<boolean> = Promise.resolve(true);
  let storeFailing = false;

  async function adopt(stored: OAuthCredential, raw: string): Promise<void> {
    held.credential = stored;
    held.redisRaw = raw;
    held.unsaved = false;
    deps.onCredential('adopted');
    log.info('credential adopted from Redis', { expiresAt: stored.expires });
    await deps.credentials.file.write(stored).catch((err: unknown) => log.warn('credential mirror write failed', { error: errorCode(err) }));
    // Already durable in Redis: usable at once.
    held.serving = held.credential;
  }

  async function reconcile(): Promise<boolean> {
    let record;
    try {
      record = await deps.credentials.read();
    } catch {
      return false; // Redis unreachable: the in-memory pair stays the truth.
    }
    if (record.raw === held.redisRaw) return false;
    held.redisRaw = record.raw;
    const stored = record.credential;
    if (stored && record.raw !== null && !held.spent.has(stored.refresh) && isNewer(stored, held.credential)) {
      await adopt(stored, record.raw);
      return true;
    }
    // Redis lost the record or holds an older one: ours must be written back.
    if (record.raw !== serializeCredential(held.credential)) held.unsaved = true;
    return false;
  }

  async function persistOnce(): Promise<boolean> {
    const snapshot = held.credential;
    try {
      let outcome = await deps.credentials.save(snapshot, held.redisRaw);
      // A "newer" record whose refresh token we already spent is dead: ours replaces it.
      if (outcome.kind === 'superseded' && held.spent.has(outcome.credential.refresh)) {
        outcome = await deps.credentials.save(snapshot, outcome.raw, { overwrite: true });
      }
      if (outcome.kind === 'superseded') await adopt(outcome.credential, outcome.raw);
      else {
        held.redisRaw = outcome.raw;
        held.unsaved = held.credential !== snapshot;
      }
      if (storeFailing) log.info('credential stored', { expiresAt: held.credential.expires });
      storeFailing = false;
      return true;
    } catch (err) {
      held.unsaved = true;
      if (!storeFailing) log.warn('credential store failed, serving the new pair from memory', { error: errorCode(err) });
      storeFailing = true;
      return false;
    }
  }

  function persist(): Promise<boolean> {
    persistChain = persistChain.then(persistOnce, persistOnce);
    return persistChain;
  }

  type LockResult = Lock | 'unreachable' | 'busy';

  async function takeLock(): Promise<LockResult> {
    const deadline = performance.now() + deps.lockWaitMs;
    for (;;) {
      try {
        const lock = await deps.store.acquireLock(deps.lockKey, deps.lockTtlMs);
        if (lock) return lock;
      } catch {
        return 'unreachable';
      }
      // Another holder is refreshing; its release usually comes within one token round trip.
      if (performance.now() >= deadline) return 'busy';
      await delay(deps.lockPollMs * (0.5 + deps.random()));
    }
  }

  function nextFallback(): string | undefined {
    while (held.fallbacks.length > 0) {
      const token = held.fallbacks.shift();
      if (token !== undefined && !held.spent.has(token) && token !== held.credential.refresh) return token;
    }
    return undefined;
  }

  async function onRotated(result: Extract<TokenResult, { kind: 'ok' }>): Promise<RefreshOutcome> {
    held.credential = result.credential;
    held.unsaved = true;
    if (result.email) held.email = result.email;
    deps.onCredential('rotated');
    log.info('credential refreshed', { expiresAt: result.credential.expires });
    // Persist before use: requests get the new access token only once storing settled. If it failed, the pair
    // serves from memory anyway (the old refresh token is dead) and the account keeps retrying the store.
    await persist();
    held.serving = held.credential;
    return { kind: 'fresh' };
  }

  async function rotate(isDue: () => boolean): Promise<RefreshOutcome> {
    let token = held.credential.refresh;
    for (let call = 0; call < MAX_TOKEN_CALLS; call++) {
      const result: TokenResult = held.spent.has(token) ? { kind: 'invalid_grant' } : await deps.client.refresh(token);
      if (result.kind === 'ok') {
        held.spent.add(token);
        return onRotated(result);
      }
      if (result.kind === 'transient') {
        const { reason, status, retryAfterMs } = result;
        return { kind: 'retry', reason, ...(status === undefined ? {} : { status }), ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
      }
      if (result.kind === 'rejected') return { kind: 'retry', reason: 'rejected', status: result.status };
      held.spent.add(token);
      // Someone else may have rotated it: their pair is in Redis.
      if (await reconcile()) {
        if (!isDue()) return { kind: 'fresh' };
        token = held.credential.refresh;
        continue;
      }
      const fallback = nextFallback();
      if (fallback === undefined) return { kind: 'needs_login' };
      log.warn('refresh token refused, trying another source', { remaining: held.fallbacks.length });
      token = fallback;
    }
    return { kind: 'needs_login' };
  }

  async function run(isDue: () => boolean, urgent: boolean): Promise<RefreshOutcome> {
    const lock = await takeLock();
    if (lock === 'busy') return { kind: 'retry', reason: 'lock' };
    if (lock === 'unreachable') {
      if (!urgent) return { kind: 'retry', reason: 'lock' };
      log.warn('credential lock unreachable, refreshing without it');
    }
    try {
      await reconcile();
      if (!isDue()) {
        if (held.unsaved) await persist();
        return { kind: 'fresh' };
      }
      return await rotate(isDue);
    } finally {
      if (typeof lock === 'object') await lock.release().catch(() => false);
    }
  }

  return { run, reconcile, persist };
}
