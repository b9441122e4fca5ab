// Rate-limit headers of an account, and the error replies of injected faults and exhausted windows.
import type { AccountState } from './accounts.js';
import type { RequestContext } from './context.js';
import { sendError } from './http-io.js';
import type { WindowState } from './rate-limit-headers.js';
import { apiKeyHeaders, unifiedHeaders } from './rate-limit-headers.js';
import type { Fault } from './types.js';

/** The fault kinds answered with an error before any body is planned. */
export const ERROR_FAULT_KINDS = ['rate_limit', 'request_429', 'overloaded', 'server_error'] as const;
type ErrorFault = Extract<Fault, { kind: (typeof ERROR_FAULT_KINDS)[number] }>;

const RATE_LIMIT_MESSAGE = "This request would exceed your account's rate limit. Please try again later.";

function windowsOf(account: AccountState): Record<string, WindowState> {
  return { five_hour: { ...account.fiveHour }, seven_day: { ...account.sevenDay } };
}

/** Headers every /v1 answer to this account carries; counts the request toward the API-key minute. */
export function accountHeaders(account: AccountState, nowMs: number): Record<string, string> {
  const base = { 'anthropic-organization-id': account.organizationUuid };
  if (account.kind === 'oauth') return { ...base, ...unifiedHeaders(windowsOf(account)) };
  const minute = Math.floor(nowMs / 60_000);
  if (account.minuteStart !== minute) {
    account.minuteStart = minute;
    account.requestsThisMinute = 0;
  }
  account.requestsThisMinute += 1;
  return { ...base, ...apiKeyHeaders(account.requestsThisMinute, nowMs) };
}

/** The claim of a window at or over its limit, if any. */
export function exhaustedWindow(account: AccountState): string | undefined {
  if (account.fiveHour.utilization >= 1) return 'five_hour';
  return account.sevenDay.utilization >= 1 ? 'seven_day' : undefined;
}

function secondsUntil(unixSec: number, nowMs: number): number {
  return Math.max(1, Math.ceil(unixSec - nowMs / 1000));
}

/** 429 for an account whose window is used up (setUtilization at 1.0 or more). */
export function sendExhausted(ctx: RequestContext, account: AccountState, claim: string, nowMs: number): void {
  const windows = windowsOf(account);
  const resetsAt = windows[claim]?.resetsAt ?? Math.floor(nowMs / 1000) + 3600;
  sendError(ctx.res, 429, RATE_LIMIT_MESSAGE, ctx.requestId, {
    headers: {
      'anthropic-organization-id': account.organizationUuid,
      ...unifiedHeaders(windows, claim),
      'retry-after': String(secondsUntil(resetsAt, nowMs)),
      'x-should-retry': 'false',
    },
  });
}

function rateLimitHeaders(
  account: AccountState,
  fault: Extract<Fault, { kind: 'rate_limit' }>,
  nowMs: number,
): Record<string, string> {
  const resetInSec = fault.resetInSec ?? 3600;
  const retryAfter = String(fault.retryAfterSec ?? resetInSec);
  const base = { 'anthropic-organization-id': account.organizationUuid, 'retry-after': retryAfter };
  if (account.kind === 'api_key') return { ...base, ...apiKeyHeaders(0, nowMs, true) };
  const claim = fault.window ?? (fault.modelFamily ? `seven_day_${fault.modelFamily}` : 'five_hour');
  const windows = windowsOf(account);
  const resetsAt = Math.floor(nowMs / 1000) + resetInSec;
  windows[claim] = { utilization: Math.max(1, windows[claim]?.utilization ?? 0), resetsAt };
  return { ...base, ...unifiedHeaders(windows, claim), 'x-should-retry': 'false' };
}

/** Answers an injected error fault. */
export function sendFault(
  ctx: RequestContext,
  account: AccountState,
  fault: ErrorFault,
  headers: Record<string, string>,
  nowMs: number,
): void {
  const { res, requestId } = ctx;
  switch (fault.kind) {
    case 'rate_limit':
      return sendError(res, 429, RATE_LIMIT_MESSAGE, requestId, { headers: rateLimitHeaders(account, fault, nowMs) });
    case 'request_429':
      // Request-scoped: no window headers, so a client must not bench the account.
      return sendError(
        res,
        429,
        'Number of concurrent requests exceeds your rate limit. Please try again later.',
        requestId,
        {
          headers: {
            'anthropic-organization-id': account.organizationUuid,
            'retry-after': String(fault.retryAfterSec ?? 1),
            'x-should-retry': 'true',
          },
        },
      );
    case 'overloaded':
      return sendError(res, 529, 'Overloaded', requestId, { headers: { ...headers, 'x-should-retry': 'true' } });
    case 'server_error':
      return sendError(res, fault.status ?? 500, 'Internal server error', requestId, {
        type: 'api_error',
        headers: { ...headers, 'x-should-retry': 'true' },
      });
  }
}
