import { errorCode, type Logger } from '@switchyard/shared';
import type { CredentialFile } from './credential-file.js';
import type { OAuthClient, TokenResult } from './oauth-client.js';
import { sameCredential, type OAuthCredential } from './oauth-credential.js';
import type { SealedCopy } from './sealed-copy.js';

/** The credential this process holds. The in-memory pair is the truth; the volume record and the sealed copy follow it. */
export interface HeldCredential {
  /** The newest pair: its refresh token is the only live one. */
  credential: OAuthCredential;
  /** The pair handed to requests. It trails `credential` while a new pair is being stored (persist before use). */
  serving: OAuthCredential;
  /** What the volume record holds as far as this process knows (last read or written): anything else there was written by someone else (a login). */
  stored: OAuthCredential | undefined;
  /** True while the in-memory pair is not yet on the volume (the write failed). */
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
  | {
      kind: 'retry';
      reason: 'status' | 'timeout' | 'network' | 'malformed' | 'rejected' | 'error';
      status?: number;
      retryAfterMs?: number;
    }
  | { kind: 'needs_login' };

export interface RefresherDeps {
  held: HeldCredential;
  file: CredentialFile;
  copy: Pick<SealedCopy, 'load' | 'save'>;
  client: OAuthClient;
  log: Logger;
  /** Called whenever `held.credential` changed (rotated, or adopted from a login). */
  onCredential(source: 'rotated' | 'adopted'): void;
}

/**
 * The refresh protocol; single-flight and scheduling live in the account. One live process per node id (the gateway
 * refuses a second), so the volume record has no other writer than the login command: no cross-process lock.
 */
export interface Refresher {
  /** Adopts a login found on the volume, then rotates only if `isDue()` still holds. */
  run(isDue: () => boolean): Promise<RefreshOutcome>;
  /** Re-reads the volume and adopts a record someone else wrote there (a login) unless its refresh token is spent; true if it did. Never throws. */
  reconcile(): Promise<boolean>;
  /** Adopts the gateway's sealed copy when it holds a different, unspent pair (a login made on another host); true if it did. Never throws. */
  adoptSealed(): Promise<boolean>;
  /** Writes the held pair to the volume (atomically) and re-seals it; serialised; false if the volume write failed. Never throws. */
  persist(): Promise<boolean>;
}

const MAX_TOKEN_CALLS = 8;

/** Creates the refresher over the account's held credential. */
export function createRefresher(deps: RefresherDeps): Refresher {
  const { held, log } = deps;
  let persistChain: Promise<boolean> = Promise.resolve(true);
  let storeFailing = false;

  async function reconcile(): Promise<boolean> {
    let stored: OAuthCredential | undefined;
    try {
      stored = await deps.file.read();
    } catch {
      held.unsaved = true; // Unreadable or broken: ours replaces it.
      return false;
    }
    const external = !sameCredential(stored, held.stored);
    held.stored = stored;
    if (stored && external && !held.spent.has(stored.refresh) && !sameCredential(stored, held.credential)) {
      // Ours stays a fallback, should the adopted one turn out dead (an old backup put back, say).
      held.fallbacks.unshift(held.credential.refresh);
      // Already durable on the volume: usable at once.
      held.credential = held.serving = stored;
      held.unsaved = false;
      deps.onCredential('adopted');
      deps.copy.save(stored);
      log.info('credential adopted from the volume (a new login)', { expiresAt: stored.expires });
      return true;
    }
    if (!sameCredential(stored, held.credential)) held.unsaved = true;
    return false;
  }

  async function adoptSealed(): Promise<boolean> {
    const sealed = await deps.copy.load({ patienceMs: 0 }).catch(() => undefined);
    if (!sealed || held.spent.has(sealed.refresh) || sameCredential(sealed, held.credential)) return false;
    held.fallbacks.unshift(held.credential.refresh);
    held.credential = sealed;
    held.unsaved = true;
    deps.onCredential('adopted');
    log.info("credential adopted from the gateway's sealed copy (a new login)", { expiresAt: sealed.expires });
    await persist();
    held.serving = held.credential;
    return true;
  }

  async function persistOnce(): Promise<boolean> {
    // A login written meanwhile is the operator's choice: it replaces ours (whose refresh token is merely left unused).
    if (await reconcile()) return true;
    const snapshot = held.credential;
    try {
      await deps.file.write(snapshot);
      held.stored = snapshot;
      held.unsaved = held.credential !== snapshot;
      if (storeFailing) log.info('credential stored', { expiresAt: snapshot.expires });
      storeFailing = false;
      return true;
    } catch (err) {
      held.unsaved = true;
      if (!storeFailing)
        log.warn('credential store failed, serving the new pair from memory', {
          path: deps.file.path,
          error: errorCode(err) ?? (err instanceof Error ? err.name : 'unknown'),
        });
      storeFailing = true;
      return false;
    } finally {
      // Sealed even when the volume failed: then the gateway's copy is the only durable one.
      deps.copy.save(snapshot);
    }
  }

  function persist(): Promise<boolean> {
    persistChain = persistChain.then(persistOnce, persistOnce);
    return persistChain;
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
        return {
          kind: 'retry',
          reason,
          ...(status === undefined ? {} : { status }),
          ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
        };
      }
      if (result.kind === 'rejected') return { kind: 'retry', reason: 'rejected', status: result.status };
      held.spent.add(token);
      // A login may have replaced the record meanwhile.
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

  async function run(isDue: () => boolean): Promise<RefreshOutcome> {
    await reconcile();
    if (!isDue()) {
      if (held.unsaved) await persist();
      return { kind: 'fresh' };
    }
    return rotate(isDue);
  }

  return { run, reconcile, adoptSealed, persist };
}
