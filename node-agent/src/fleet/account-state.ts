// The node's one account state: moved by every upstream response's rate-limit headers and by the
// credential layer and shutdown; read by the state reports, which send it to the gateways over every tunnel.
import { initialAccountState, nextAccountState, parseRateLimitHeaders } from '@switchyard/shared';
import type { AccountState, AccountStatus, HeaderSource, Logger } from '@switchyard/shared';

/** Holds the account's state; see createAccountStateHolder. */
export interface AccountStateHolder {
  /** The state now (a limit whose time has passed is lifted here). */
  current(): AccountState;
  /** Feeds one upstream response (status and headers, before the body). A request-scoped 429 never benches the account. */
  applyResponse(status: number, headers: HeaderSource, model: string | undefined): void;
  /** The credential can no longer be refreshed: out of rotation until someone logs in. */
  setNeedsLogin(): void;
  /** Back from needs_login after a successful login or refresh; no-op otherwise. */
  setOk(): void;
  /** The node is shutting down; final. */
  setDraining(): void;
  /** Called after each transition (state, limit time or limited families changed). Returns unsubscribe. */
  onChange(listener: (next: AccountState, prev: AccountState) => void): () => void;
}

/** Dependencies of createAccountStateHolder. */
export interface AccountStateHolderDeps {
  log: Logger;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
  /** Default: available, nothing known. */
  initial?: AccountState;
}

const WARN_STATES: ReadonlySet<AccountStatus> = new Set(['limited', 'needs_login', 'disabled']);

function lapsed(state: AccountState, nowMs: number): AccountState {
  const limitOver = state.limitedUntil !== undefined && state.limitedUntil <= nowMs;
  const families = state.limitedFamilies ? Object.entries(state.limitedFamilies) : [];
  const live = families.filter(([, until]) => until > nowMs);
  if (!limitOver && live.length === families.length) return state;
  const next: AccountState = { ...state };
  if (limitOver) {
    delete next.limitedUntil;
    if (next.state === 'limited') next.state = 'available';
  }
  if (live.length === 0) delete next.limitedFamilies;
  else next.limitedFamilies = Object.fromEntries(live);
  return next;
}

function isTransition(a: AccountState, b: AccountState): boolean {
  return (
    a.state !== b.state ||
    a.limitedUntil !== b.limitedUntil ||
    JSON.stringify(a.limitedFamilies ?? {}) !== JSON.stringify(b.limitedFamilies ?? {})
  );
}

function iso(ms: number | undefined): string | undefined {
  return ms === undefined ? undefined : new Date(ms).toISOString();
}

function transitionFields(prev: AccountState, next: AccountState, model: string | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = { from: prev.state, to: next.state };
  if (next.limitedUntil !== undefined) fields.limitedUntil = iso(next.limitedUntil);
  if (next.limitedFamilies) {
    fields.limitedFamilies = Object.fromEntries(
      Object.entries(next.limitedFamilies).map(([f, until]) => [f, iso(until)]),
    );
  }
  if (next.representativeClaim !== undefined) fields.claim = next.representativeClaim;
  if (next.fiveHour?.utilization !== undefined) fields.fiveHourUtilization = next.fiveHour.utilization;
  if (next.sevenDay?.utilization !== undefined) fields.sevenDayUtilization = next.sevenDay.utilization;
  if (model !== undefined) fields.model = model;
  return fields;
}

/**
 * Creates the holder. Each transition is logged once (`account state changed`, warn when the account
 * leaves rotation) and announced to onChange listeners, so the state reports can send it at once.
 * @example
 * const account = createAccountStateHolder({ log });
 * account.onChange(() => reports.notify());
 * auth.onStatusChange((s) => (s === 'needs_login' ? account.setNeedsLogin() : account.setOk()));
 */
export function createAccountStateHolder(deps: AccountStateHolderDeps): AccountStateHolder {
  const now = deps.now ?? Date.now;
  const log = deps.log;
  let state = deps.initial ?? initialAccountState(now());
  const listeners = new Set<(next: AccountState, prev: AccountState) => void>();

  function commit(next: AccountState, model?: string): void {
    const prev = state;
    state = next;
    if (!isTransition(prev, next)) return;
    const fields = transitionFields(prev, next, model);
    if (WARN_STATES.has(next.state) || next.limitedFamilies) log.warn('account state changed', fields);
    else log.info('account state changed', fields);
    for (const listener of listeners) {
      try {
        listener(next, prev);
      } catch (err) {
        log.error('account state listener failed', { error: err instanceof Error ? err.message : String(err) });
      }
    }
  }

  function set(status: AccountStatus): void {
    commit({ ...lapsed(state, now()), state: status, updatedAt: now() });
  }

  return {
    current() {
      const next = lapsed(state, now());
      if (next !== state) commit(next);
      return state;
    },
    applyResponse(status, headers, model) {
      const nowMs = now();
      commit(nextAccountState(lapsed(state, nowMs), status, parseRateLimitHeaders(headers, nowMs), nowMs), model);
    },
    setNeedsLogin() {
      // A draining node is leaving anyway; its record should keep saying so.
      if (state.state !== 'draining') set('needs_login');
    },
    setOk() {
      if (state.state !== 'needs_login') return;
      const nowMs = now();
      const limited = state.limitedUntil !== undefined && state.limitedUntil > nowMs;
      set(limited ? 'limited' : 'available');
    },
    setDraining() {
      set('draining');
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
