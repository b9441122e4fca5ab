import { AppError, type Logger } from '@switchyard/shared';
import type { AccountAuth, AuthStatus } from './account-auth.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import type { CredentialFile } from './credential-file.js';
import type { BootstrapResult } from './credential-sources.js';
import type { OAuthClient } from './oauth-client.js';
import { createRefresher, type HeldCredential, type RefreshOutcome } from './refresher.js';
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
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  const sleep = opts.sleep ?? abortableSleep;
  const skew = opts.expirySkewMs ?? 5_000;
  const backoff = opts.backoff ?? { baseMs: 1_000, maxMs: 120_000 };
  const storeBackoff = opts.storeBackoff ?? { baseMs: 500, maxMs: 30_000 };
  const log = opts.log.child({ component: 'credentials', nodeId: opts.nodeId });
  const held: HeldCredential = {
    credential: opts.initial.credential,
    serving: opts.initial.credential,
    stored: opts.initial.credential,
    unsaved: false,
    spent: new Set(),
    fallbacks: [...opts.initial.fallbackRefreshTokens],
    ...(opts.email === undefined ? {} : { email: opts.email }),
  };
  let status: AuthStatus = 'ok';
  let dueAt = 0;
  let rejectedAccess: string | undefined;
  let failures = 0;
  let retryAt: number | undefined;
  let inflight: Promise<RefreshOutcome> | undefined;
  let loop: Promise<void> | undefined;
  let storeLoop: Promise<void> | undefined;
  let profileLookup: Promise<void> | undefined;
  let stopped = false;
  const stopSignal = new AbortController();
  let wakeSignal = new AbortController();
  const listeners = new Set<(s: AuthStatus) => void>();

  function wake(): void {
    wakeSignal.abort();
    wakeSignal = new AbortController();
  }

  function schedule(minted: boolean): void {
    const lead = opts.refreshMarginMs * (1 + random() * 0.5);
    // A pair minted just now with a lifetime shorter than the margin is refreshed at half-life, not at once and forever.
    const lifetime = held.credential.expires - now();
    dueAt = held.credential.expires - (minted ? Math.min(lead, lifetime / 2) : lead);
    wake();
  }
  schedule(false);

  const refresher = createRefresher({
    held,
    file: opts.file,
    copy: opts.copy,
    client: opts.client,
    log,
    onCredential: () => schedule(true),
  });

  const usable = (): boolean => {
    const c = held.serving;
    return c.access !== '' && c.access !== rejectedAccess && now() < c.expires - skew;
  };
  const isDue = (): boolean => !usable() || now() >= dueAt;
  const backingOff = (): boolean => inflight === undefined && retryAt !== undefined && now() < retryAt;

  function setStatus(next: AuthStatus): void {
    if (next === status) return;
    status = next;
    for (const listener of listeners) {
      try {
        listener(next);
      } catch (err) {
        log.error('status listener failed', { err });
      }
    }
  }

  function applyOutcome(outcome: RefreshOutcome): void {
    opts.onRefreshOutcome?.(outcome);
    if (held.unsaved && outcome.kind !== 'needs_login') ensureStoreLoop();
    if (outcome.kind === 'fresh') {
      failures = 0;
      retryAt = undefined;
      return;
    }
    if (outcome.kind === 'needs_login') {
      retryAt = undefined;
      if (status !== 'needs_login')
        log.error('credential needs login', { reason: 'invalid_grant', fix: NEEDS_LOGIN_FIX });
      setStatus('needs_login');
      return;
    }
    failures += 1;
    const delay = backoffDelay(failures, backoff, random, outcome.retryAfterMs);
    retryAt = now() + delay;
    const level = outcome.reason === 'rejected' ? 'error' : 'warn';
    log[level]('credential refresh failed, backing off', {
      reason: outcome.reason,
      status: outcome.status,
      attempt: failures,
      retryInMs: delay,
    });
  }

  function refresh(): Promise<RefreshOutcome> {
    inflight ??= refresher
      .run(isDue)
      .catch((err: unknown): RefreshOutcome => {
        log.error('credential refresh crashed', { err });
        return { kind: 'retry', reason: 'error' };
      })
      .then((outcome) => {
        applyOutcome(outcome);
        return outcome;
      })
      .finally(() => {
        inflight = undefined;
        wake();
      });
    return inflight;
  }

  function ensureStoreLoop(): void {
    storeLoop ??= (async () => {
      for (let attempt = 1; held.unsaved && !stopped; attempt++) {
        await sleep(backoffDelay(attempt, storeBackoff, random), stopSignal.signal);
        if (!stopped) await refresher.persist();
      }
    })().finally(() => {
      storeLoop = undefined;
    });
  }

  async function pollForLogin(): Promise<void> {
    if (!(await refresher.reconcile()) && !(await refresher.adoptSealed())) return;
    failures = 0;
    log.info('credential recovered by a new login', { expiresAt: held.credential.expires });
    setStatus('ok');
  }

  function nextDelay(): number {
    if (status === 'needs_login') return opts.needsLoginPollMs ?? 30_000;
    return Math.max(0, (retryAt ?? dueAt) - now());
  }

  async function runLoop(): Promise<void> {
    while (!stopped) {
      await sleep(nextDelay(), AbortSignal.any([stopSignal.signal, wakeSignal.signal]));
      if (stopped) return;
      if (status === 'needs_login') await pollForLogin();
      else if (inflight) await inflight;
      else if (retryAt !== undefined ? now() >= retryAt : now() >= dueAt) await refresh();
    }
  }

  function unavailable(message: string): AppError {
    const retryAfterSec = retryAt === undefined ? undefined : Math.max(1, Math.ceil((retryAt - now()) / 1000));
    return new AppError('unavailable', message, retryAfterSec === undefined ? {} : { retryAfterSec });
  }

  const needsLogin = () => new AppError('unavailable', 'The account of this node needs a new login.');
  const bearer = () => ({ headers: { authorization: `Bearer ${held.serving.access}` }, token: held.serving.access });

  return {
    kind: 'oauth',
    async credentialHeaders() {
      if (status === 'needs_login') throw needsLogin();
      if (usable()) return bearer();
      if (backingOff()) throw unavailable('The account access token expired and its refresh is failing; retrying.');
      const outcome = await refresh();
      if (outcome.kind === 'needs_login') throw needsLogin();
      if (usable()) return bearer();
      throw unavailable('The account access token expired and could not be refreshed; retrying.');
    },
    async refreshAfterUnauthorized(token) {
      if (status === 'needs_login') return false;
      if (token !== held.serving.access) return usable();
      rejectedAccess = token;
      // At most one refresh of our own; a refresh already running when the 401 arrived may have decided before seeing it.
      for (let round = 0; round < 2; round++) {
        const joined = inflight !== undefined;
        if (backingOff()) return false;
        await refresh();
        if (held.serving.access !== token) return usable();
        if (!joined) break;
      }
      return false;
    },
    status: () => status,
    label: () => held.email,
    start() {
      if (loop || stopped) return Promise.resolve();
      loop = runLoop();
      if (held.email === undefined && usable()) {
        profileLookup = opts.client.profile(held.serving.access).then((profile) => {
          if (profile?.email && held.email === undefined) held.email = profile.email;
        });
      }
      return Promise.resolve();
    },
    async stop() {
      stopped = true;
      stopSignal.abort();
      await Promise.allSettled([loop, inflight, storeLoop, profileLookup]);
      if (held.unsaved && !(await refresher.persist())) {
        log.error('credential not stored at shutdown', {
          path: opts.file.path,
          fix: 'make CREDENTIALS_DIR writable; the pair was also sent sealed to the gateway, from where the next start restores it',
        });
      }
    },
    onStatusChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
