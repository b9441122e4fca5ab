import { z } from 'zod';
import { listRateLimitRejections } from './classify-rate-limit.js';
import type { RateLimitInfo, RateLimitWindow } from './rate-limit.js';

const epochMs = z.number().int().nonnegative();

/** Whether an account takes traffic. `needs_login`, `disabled` and `draining` are set by people or the credential layer, never by rate-limit headers. */
export const AccountStatusSchema = z.enum(['available', 'limited', 'needs_login', 'disabled', 'draining']);
export type AccountStatus = z.infer<typeof AccountStatusSchema>;

/** A unified window's latest figures. */
export const WindowFiguresSchema = z.object({
  utilization: z.number().nonnegative().optional(),
  resetAt: epochMs.optional(),
});
export type WindowFigures = z.infer<typeof WindowFiguresSchema>;

/** What a node publishes about one account (it travels through Redis, hence the schema). */
export const AccountStateSchema = z.object({
  state: AccountStatusSchema,
  /** Set while `state` is `limited`: the account is out until then. */
  limitedUntil: epochMs.optional(),
  /** Per model family (`opus`, …): out until then, while the account serves other families. */
  limitedFamilies: z.record(z.string(), epochMs).optional(),
  fiveHour: WindowFiguresSchema.optional(),
  sevenDay: WindowFiguresSchema.optional(),
  representativeClaim: z.string().optional(),
  updatedAt: epochMs,
});
export type AccountState = z.infer<typeof AccountStateSchema>;

/** A fresh account: available, nothing known yet. */
export function initialAccountState(nowMs: number): AccountState {
  return { state: 'available', updatedAt: nowMs };
}

function isPinned(state: AccountStatus): boolean {
  return state === 'needs_login' || state === 'disabled' || state === 'draining';
}

function mergeFigures(prev: WindowFigures | undefined, window: RateLimitWindow | undefined): WindowFigures | undefined {
  if (!window || (window.utilization === undefined && window.resetAt === undefined)) return prev;
  const next: WindowFigures = { ...prev };
  if (window.utilization !== undefined) next.utilization = Math.max(0, window.utilization);
  if (window.resetAt !== undefined) next.resetAt = window.resetAt;
  return next;
}

function refreshFigures(next: AccountState, info: RateLimitInfo): void {
  const unified = info.unified;
  if (!unified) return;
  const fiveHour = mergeFigures(next.fiveHour, unified.windows['5h']);
  if (fiveHour) next.fiveHour = fiveHour;
  const sevenDay = mergeFigures(next.sevenDay, unified.windows['7d']);
  if (sevenDay) next.sevenDay = sevenDay;
  // The claim describes this response; a response without one means none binds now.
  if (unified.representativeClaim === undefined) delete next.representativeClaim;
  else next.representativeClaim = unified.representativeClaim;
}

function dropExpired(next: AccountState, nowMs: number): void {
  if (next.limitedUntil !== undefined && next.limitedUntil <= nowMs) {
    delete next.limitedUntil;
    if (next.state === 'limited') next.state = 'available';
  }
  if (!next.limitedFamilies) return;
  const families = Object.entries(next.limitedFamilies).filter(([, until]) => until > nowMs);
  if (families.length === 0) delete next.limitedFamilies;
  else next.limitedFamilies = Object.fromEntries(families);
}

function applyRejections(next: AccountState, info: RateLimitInfo, nowMs: number): void {
  let accountUntil: number | undefined;
  for (const rejection of listRateLimitRejections(info, nowMs)) {
    if (rejection.modelFamily !== undefined) {
      next.limitedFamilies = { ...next.limitedFamilies, [rejection.modelFamily]: rejection.until };
    } else {
      // Several account-wide windows rejected: the account is out until the last one lifts.
      accountUntil = Math.max(accountUntil ?? 0, rejection.until);
    }
  }
  if (accountUntil === undefined) return;
  // The newest response's reset replaces an older one, even an earlier one.
  next.state = 'limited';
  next.limitedUntil = accountUntil;
}

/**
 * Applies one upstream response to an account's state, returning a new state: window figures are
 * refreshed from every response, expired limits fall away, and a 429 that rejects a window benches the
 * account (account-wide) or one model family. 401/403 change nothing here: whether they mean "log in
 * again" or "disabled" is the credential layer's call. Pinned states (needs_login, disabled,
 * draining) keep their state; only their figures move.
 */
export function nextAccountState(prev: AccountState, status: number, info: RateLimitInfo, nowMs: number): AccountState {
  const next: AccountState = { ...prev, updatedAt: nowMs };
  refreshFigures(next, info);
  dropExpired(next, nowMs);
  if (status === 429 && !isPinned(next.state)) applyRejections(next, info, nowMs);
  return next;
}

/**
 * The state as of `nowMs` (a lapsed `limited` reads as `available`); given a model family, an account
 * whose family limit still holds reads as `limited`.
 */
export function effectiveState(state: AccountState, nowMs: number, family?: string): AccountStatus {
  if (state.state === 'limited') {
    return state.limitedUntil !== undefined && state.limitedUntil <= nowMs ? 'available' : 'limited';
  }
  if (state.state === 'available' && family !== undefined) {
    const until = familyLimit(state, family);
    if (until !== undefined && until > nowMs) return 'limited';
  }
  return state.state;
}

function familyLimit(state: AccountState, family: string): number | undefined {
  const families = state.limitedFamilies;
  return families && Object.hasOwn(families, family) ? families[family] : undefined;
}

/**
 * When the account can next serve (the given family), or undefined if it can now or only a person can
 * bring it back (needs_login, disabled, draining). Lets a gateway with every account benched answer
 * with a useful retry-after.
 */
export function availableAt(state: AccountState, nowMs: number, family?: string): number | undefined {
  if (isPinned(state.state)) return undefined;
  let at = state.state === 'limited' ? state.limitedUntil : undefined;
  const familyUntil = family === undefined ? undefined : familyLimit(state, family);
  if (familyUntil !== undefined && (at === undefined || familyUntil > at)) at = familyUntil;
  return at !== undefined && at > nowMs ? at : undefined;
}
