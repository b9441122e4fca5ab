import { AppError, type Logger } from '@switchyard/shared';
import type { AccountAuth, AuthStatus } from './account-auth.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { CredentialFile } from './credential-file.js';
import type { BootstrapResult } from './credential-sources.js';
import type { OAuthClient } from './oauth-client.js';
import { createRefresher, type HeldCredential, type Refresher, type RefreshOutcome } from './refresher.js';
import type { SealedCopy } from './sealed-copy.js';
import { abortableSleep, type Sleep } from './sleep.js';

export interface OAuthAccountOptions {
  nodeId: string;
  /** The credential record on the node's volume (CREDENTIALS_DIR/<nodeId>.json). */
  file: CredentialFile;
  /** The gateway's sealed copy: re-sealed after every volume save. */
  copy: Pick<SealedCopy, 'load' | 'save'>;
  client: OAuthClient;
  log: Logger;
  /** What bootstrapCredential() chose. */
  initial: BootstrapResult;
  /** REFRESH_MARGIN_MS: refresh this long before expiry, plus up to 50% jitter. */
  refreshMarginMs: number;
  /** Known account email (e.g. from a login); otherwise learnt from refresh answers or the profile endpoint. */
  email?: string;
  now?: () => number;
  random?: () => number;
  /** Drives the background refresh, backoff and store retries (tests inject a manual clock). */
  sleep?: Sleep;
  /** An access token this close to expiry is no longer handed out. Default 5 s. */
  expirySkewMs?: number;
  /** Token endpoint failures (5xx, 429, timeouts). Default 1 s doubling to 2 min. */
  backoff?: BackoffPolicy;
  /** Retries of a failed store of a new pair. Default 0.5 s doubling to 30 s. */
  storeBackoff?: BackoffPolicy;
  /** In needs_login, how often the volume and the sealed copy are re-read for a new login (no token calls). Default 30 s. */
  needsLoginPollMs?: number;
  /** Told how every refresh run ended (for the metrics); must not throw. */
  onRefreshOutcome?(outcome: RefreshOutcome): void;
}

const NEEDS_LOGIN_FIX =
  'run the node-agent login command for this node, or set CLAUDE_REFRESH_TOKEN to a fresh refresh token and restart';

/**
 * The OAuth account: hands out access tokens, refreshes them in the background ahead of expiry (jittered),
 * single-flight in the process, storing every new pair on the volume before use and re-sealing it to the gateway.
 * @example
 * const account = createOAuthAccount({ nodeId, file, copy, client, log, initial, refreshMarginMs });
 * await account.start();
 * const { headers } = await account.credentialHeaders();
 */
export function createOAuthAccount(opts: OAuthAccountOptions): AccountAuth {
  return new OAuthAccount(opts);
}

/**
 * The state behind {@link createOAuthAccount}. The refresher (rotation, persist before use, CAS against the volume)
 * works on `#held`; this class owns when it runs: one refresh at a time (`#inflight`), the background schedule
 * (`#dueAt`), backoff after failures (`#retryAt`), the store retries of an unsaved pair, and the account status.
 */
export class OAuthAccount implements AccountAuth {
  readonly kind = 'oauth';
  readonly #opts: OAuthAccountOptions;
  readonly #now: () => number;
  readonly #random: () => number;
  readonly #sleep: Sleep;
  readonly #skewMs: number;
  readonly #backoff: BackoffPolicy;
  readonly #storeBackoff: BackoffPolicy;
  readonly #log: Logger;
  readonly #held: HeldCredential;
  readonly #refresher: Refresher;
  readonly #listeners = new Set<(s: AuthStatus) => void>();
  readonly #stopSignal = new AbortController();
  #wakeSignal = new AbortController();
  #status: AuthStatus = 'ok';
  #dueAt = 0;
  #rejectedAccess: string | undefined;
  #failures = 0;
  #retryAt: number | undefined;
  #inflight: Promise<RefreshOutcome> | undefined;
  #loop: Promise<void> | undefined;
  #storeLoop: Promise<void> | undefined;
  #profileLookup: Promise<void> | undefined;
  #stopped = false;

  constructor(opts: OAuthAccountOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
    this.#sleep = opts.sleep ?? abortableSleep;
    this.#skewMs = opts.expirySkewMs ?? 5_000;
    this.#backoff = opts.backoff ?? { baseMs: 1_000, maxMs: 120_000 };
    this.#storeBackoff = opts.storeBackoff ?? { baseMs: 500, maxMs: 30_000 };
    this.#log = opts.log.child({ component: 'credentials', nodeId: opts.nodeId });
    this.#held = {
      credential: opts.initial.credential,
      serving: opts.initial.credential,
      stored: opts.initial.credential,
      unsaved: false,
      spent: new Set(),
      fallbacks: [...opts.initial.fallbackRefreshTokens],
      ...(opts.email === undefined ? {} : { email: opts.email }),
    };
    this.#schedule(false);
    this.#refresher = createRefresher({
      held: this.#held,
      file: opts.file,
      copy: opts.copy,
      client: opts.client,
      log: this.#log,
      onCredential: () => this.#schedule(true),
    });
  }

  async credentialHeaders(): Promise<{ headers: Record<string, string>; token: string }> {
    if (this.#status === 'needs_login') throw needsLogin();
    if (this.#usable()) return this.#bearer();
    if (this.#backingOff())
      throw this.#unavailable('The account access token expired and its refresh is failing; retrying.');
    const outcome = await this.#refresh();
    if (outcome.kind === 'needs_login') throw needsLogin();
    if (this.#usable()) return this.#bearer();
    throw this.#unavailable('The account access token expired and could not be refreshed; retrying.');
  }

  async refreshAfterUnauthorized(token: string): Promise<boolean> {
    if (this.#status === 'needs_login') return false;
    if (token !== this.#held.serving.access) return this.#usable();
    this.#rejectedAccess = token;
    // At most one refresh of our own; a refresh already running when the 401 arrived may have decided before seeing it.
    for (let round = 0; round < 2; round++) {
      const joined = this.#inflight !== undefined;
      if (this.#backingOff()) return false;
      await this.#refresh();
      if (this.#held.serving.access !== token) return this.#usable();
      if (!joined) break;
    }
    return false;
  }

  status(): AuthStatus {
    return this.#status;
  }

  label(): string | undefined {
    return this.#held.email;
  }

  start(): Promise<void> {
    if (this.#loop || this.#stopped) return Promise.resolve();
    this.#loop = this.#runLoop();
    if (this.#held.email === undefined && this.#usable()) {
      this.#profileLookup = this.#opts.client.profile(this.#held.serving.access).then((profile) => {
        if (profile?.email && this.#held.email === undefined) this.#held.email = profile.email;
      });
    }
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopSignal.abort();
    await Promise.allSettled([this.#loop, this.#inflight, this.#storeLoop, this.#profileLookup]);
    if (this.#held.unsaved && !(await this.#refresher.persist())) {
      this.#log.error('credential not stored at shutdown', {
        path: this.#opts.file.path,
        fix: 'make CREDENTIALS_DIR writable; the pair was also sent sealed to the gateway, from where the next start restores it',
      });
    }
  }

  onStatusChange(listener: (status: AuthStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Single-flight: every caller while a refresh runs gets that refresh's outcome. */
  #refresh(): Promise<RefreshOutcome> {
    this.#inflight ??= this.#refresher
      .run(() => this.#isDue())
      .catch((err: unknown): RefreshOutcome => {
        this.#log.error('credential refresh crashed', { err });
        return { kind: 'retry', reason: 'error' };
      })
      .then((outcome) => {
        this.#applyOutcome(outcome);
        return outcome;
      })
      .finally(() => {
        this.#inflight = undefined;
        this.#wake();
      });
    return this.#inflight;
  }

  #applyOutcome(outcome: RefreshOutcome): void {
    this.#opts.onRefreshOutcome?.(outcome);
    if (this.#held.unsaved && outcome.kind !== 'needs_login') this.#ensureStoreLoop();
    if (outcome.kind === 'fresh') {
      this.#failures = 0;
      this.#retryAt = undefined;
      return;
    }
    if (outcome.kind === 'needs_login') {
      this.#retryAt = undefined;
      if (this.#status !== 'needs_login')
        this.#log.error('credential needs login', { reason: 'invalid_grant', fix: NEEDS_LOGIN_FIX });
      this.#setStatus('needs_login');
      return;
    }
    this.#failures += 1;
    const delay = backoffDelay(this.#failures, this.#backoff, this.#random, outcome.retryAfterMs);
    this.#retryAt = this.#now() + delay;
    const level = outcome.reason === 'rejected' ? 'error' : 'warn';
    this.#log[level]('credential refresh failed, backing off', {
      reason: outcome.reason,
      status: outcome.status,
      attempt: this.#failures,
      retryInMs: delay,
    });
  }

  /** Retries storing a pair the volume refused, with backoff, until it lands or the account stops. */
  #ensureStoreLoop(): void {
    this.#storeLoop ??= (async () => {
      for (let attempt = 1; this.#held.unsaved && !this.#stopped; attempt++) {
        await this.#sleep(backoffDelay(attempt, this.#storeBackoff, this.#random), this.#stopSignal.signal);
        if (!this.#stopped) await this.#refresher.persist();
      }
    })().finally(() => {
      this.#storeLoop = undefined;
    });
  }

  /** The background loop: refresh when due (or when the backoff ends); in needs_login, watch for a new login. */
  async #runLoop(): Promise<void> {
    while (!this.#stopped) {
      await this.#sleep(this.#nextDelay(), AbortSignal.any([this.#stopSignal.signal, this.#wakeSignal.signal]));
      if (this.#stopped) return;
      if (this.#status === 'needs_login') await this.#pollForLogin();
      else if (this.#inflight) await this.#inflight;
      else if (this.#retryAt !== undefined ? this.#now() >= this.#retryAt : this.#now() >= this.#dueAt)
        await this.#refresh();
    }
  }

  #nextDelay(): number {
    if (this.#status === 'needs_login') return this.#opts.needsLoginPollMs ?? 30_000;
    return Math.max(0, (this.#retryAt ?? this.#dueAt) - this.#now());
  }

  async #pollForLogin(): Promise<void> {
    if (!(await this.#refresher.reconcile()) && !(await this.#refresher.adoptSealed())) return;
    this.#failures = 0;
    this.#log.info('credential recovered by a new login', { expiresAt: this.#held.credential.expires });
    this.#setStatus('ok');
  }

  #schedule(minted: boolean): void {
    const lead = this.#opts.refreshMarginMs * (1 + this.#random() * 0.5);
    // A pair minted just now with a lifetime shorter than the margin is refreshed at half-life, not at once and forever.
    const lifetime = this.#held.credential.expires - this.#now();
    this.#dueAt = this.#held.credential.expires - (minted ? Math.min(lead, lifetime / 2) : lead);
    this.#wake();
  }

  #wake(): void {
    this.#wakeSignal.abort();
    this.#wakeSignal = new AbortController();
  }

  #usable(): boolean {
    const c = this.#held.serving;
    return c.access !== '' && c.access !== this.#rejectedAccess && this.#now() < c.expires - this.#skewMs;
  }

  #isDue(): boolean {
    return !this.#usable() || this.#now() >= this.#dueAt;
  }

  #backingOff(): boolean {
    return this.#inflight === undefined && this.#retryAt !== undefined && this.#now() < this.#retryAt;
  }

  #setStatus(next: AuthStatus): void {
    if (next === this.#status) return;
    this.#status = next;
    for (const listener of this.#listeners) {
      try {
        listener(next);
      } catch (err) {
        this.#log.error('status listener failed', { err });
      }
    }
  }

  #bearer(): { headers: Record<string, string>; token: string } {
    const access = this.#held.serving.access;
    return { headers: { authorization: `Bearer ${access}` }, token: access };
  }

  #unavailable(message: string): AppError {
    const retryAt = this.#retryAt;
    const retryAfterSec = retryAt === undefined ? undefined : Math.max(1, Math.ceil((retryAt - this.#now()) / 1000));
    return new AppError('unavailable', message, retryAfterSec === undefined ? {} : { retryAfterSec });
  }
}

function needsLogin(): AppError {
  return new AppError('unavailable', 'The account of this node needs a new login.');
}
