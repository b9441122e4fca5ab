import {
  errorCode,
  HttpAttr,
  SpanKind,
  SpanStatusCode,
  switchyardTracer,
  trace,
  type Logger,
  type Span,
} from '@switchyard/shared';
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
const OAUTH_REFRESH_SPAN = 'oauth refresh';

/** Creates the refresher over the account's held credential. */
export function createRefresher(deps: RefresherDeps): Refresher {
  return new CredentialRefresher(deps);
}

/** The refresh protocol over the held credential: the volume write chain and whether the store is failing are its state. */
export class CredentialRefresher implements Refresher {
  readonly #deps: RefresherDeps;
  readonly #held: HeldCredential;
  readonly #log: Logger;
  #persistChain: Promise<boolean> = Promise.resolve(true);
  #storeFailing = false;
  // Bound once: the persist chain hands it over as both its fulfilled and rejected step.
  readonly #persistOnce = (): Promise<boolean> => this.#writeVolume();

  constructor(deps: RefresherDeps) {
    this.#deps = deps;
    this.#held = deps.held;
    this.#log = deps.log;
  }

  async run(isDue: () => boolean): Promise<RefreshOutcome> {
    await this.reconcile();
    if (!isDue()) {
      if (this.#held.unsaved) await this.persist();
      return { kind: 'fresh' };
    }
    return this.#rotate(isDue);
  }

  async reconcile(): Promise<boolean> {
    const held = this.#held;
    let stored: OAuthCredential | undefined;
    try {
      stored = await this.#deps.file.read();
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
      this.#deps.onCredential('adopted');
      this.#deps.copy.save(stored);
      this.#log.info('credential adopted from the volume (a new login)', { expiresAt: stored.expires });
      return true;
    }
    if (!sameCredential(stored, held.credential)) held.unsaved = true;
    return false;
  }

  async adoptSealed(): Promise<boolean> {
    const held = this.#held;
    const sealed = await this.#deps.copy.load({ patienceMs: 0 }).catch(() => undefined);
    if (!sealed || held.spent.has(sealed.refresh) || sameCredential(sealed, held.credential)) return false;
    held.fallbacks.unshift(held.credential.refresh);
    held.credential = sealed;
    held.unsaved = true;
    this.#deps.onCredential('adopted');
    this.#log.info("credential adopted from the gateway's sealed copy (a new login)", { expiresAt: sealed.expires });
    await this.persist();
    held.serving = held.credential;
    return true;
  }

  persist(): Promise<boolean> {
    this.#persistChain = this.#persistChain.then(this.#persistOnce, this.#persistOnce);
    return this.#persistChain;
  }

  /** One link of the persist chain. */
  async #writeVolume(): Promise<boolean> {
    const held = this.#held;
    // A login written meanwhile is the operator's choice: it replaces ours (whose refresh token is merely left unused).
    if (await this.reconcile()) return true;
    const snapshot = held.credential;
    try {
      await this.#deps.file.write(snapshot);
      held.stored = snapshot;
      held.unsaved = held.credential !== snapshot;
      if (this.#storeFailing) this.#log.info('credential stored', { expiresAt: snapshot.expires });
      this.#storeFailing = false;
      return true;
    } catch (err) {
      held.unsaved = true;
      if (!this.#storeFailing)
        this.#log.warn('credential store failed, serving the new pair from memory', {
          path: this.#deps.file.path,
          error: errorCode(err) ?? (err instanceof Error ? err.name : 'unknown'),
        });
      this.#storeFailing = true;
      return false;
    } finally {
      // Sealed even when the volume failed: then the gateway's copy is the only durable one.
      this.#deps.copy.save(snapshot);
    }
  }

  /**
   * The token endpoint's part of a run. One a request waits for (it found the token expired, or Anthropic answered
   * it 401) is that request's `oauth refresh` span, under its `credential` span (docs/TRACING.md). The background
   * refresh belongs to no request: no active span, no span of its own; nor with tracing off (no span is ever active).
   */
  async #rotate(isDue: () => boolean): Promise<RefreshOutcome> {
    if (trace.getActiveSpan() === undefined) return this.#callTokenEndpoint(isDue);
    const span = switchyardTracer().startSpan(OAUTH_REFRESH_SPAN, { kind: SpanKind.INTERNAL });
    try {
      const outcome = await this.#callTokenEndpoint(isDue);
      if (outcome.kind !== 'fresh') refreshFailed(span, outcome.kind === 'retry' ? outcome.reason : outcome.kind);
      return outcome;
    } catch (err) {
      refreshFailed(span, 'error');
      throw err;
    } finally {
      span.end();
    }
  }

  async #callTokenEndpoint(isDue: () => boolean): Promise<RefreshOutcome> {
    const held = this.#held;
    let token = held.credential.refresh;
    for (let call = 0; call < MAX_TOKEN_CALLS; call++) {
      const result: TokenResult = held.spent.has(token)
        ? { kind: 'invalid_grant' }
        : await this.#deps.client.refresh(token);
      if (result.kind === 'ok') {
        held.spent.add(token);
        return this.#onRotated(result);
      }
      if (result.kind === 'transient') return retryAfterTransient(result);
      if (result.kind === 'rejected') return { kind: 'retry', reason: 'rejected', status: result.status };
      held.spent.add(token);
      // A login may have replaced the record meanwhile.
      if (await this.reconcile()) {
        if (!isDue()) return { kind: 'fresh' };
        token = held.credential.refresh;
        continue;
      }
      const fallback = this.#nextFallback();
      if (fallback === undefined) return { kind: 'needs_login' };
      this.#log.warn('refresh token refused, trying another source', { remaining: held.fallbacks.length });
      token = fallback;
    }
    return { kind: 'needs_login' };
  }

  async #onRotated(result: Extract<TokenResult, { kind: 'ok' }>): Promise<RefreshOutcome> {
    const held = this.#held;
    held.credential = result.credential;
    held.unsaved = true;
    if (result.email) held.email = result.email;
    this.#deps.onCredential('rotated');
    this.#log.info('credential refreshed', { expiresAt: result.credential.expires });
    // Persist before use: requests get the new access token only once storing settled. If it failed, the pair
    // serves from memory anyway (the old refresh token is dead) and the account keeps retrying the store.
    await this.persist();
    held.serving = held.credential;
    return { kind: 'fresh' };
  }

  #nextFallback(): string | undefined {
    const held = this.#held;
    while (held.fallbacks.length > 0) {
      const token = held.fallbacks.shift();
      if (token !== undefined && !held.spent.has(token) && token !== held.credential.refresh) return token;
    }
    return undefined;
  }
}

/** The span's error.type: why the refresh gave no fresh token (e.g. timeout, status, needs_login). */
function refreshFailed(span: Span, reason: string): void {
  span.setAttribute(HttpAttr.errorType, reason);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

function retryAfterTransient(result: Extract<TokenResult, { kind: 'transient' }>): RefreshOutcome {
  const { reason, status, retryAfterMs } = result;
  return {
    kind: 'retry',
    reason,
    ...(status === undefined ? {} : { status }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}
