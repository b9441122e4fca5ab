import { familyOfWindow, windowForClaim } from './model-family.js';
import type { KnownModelFamily } from './model-family.js';
import type { ApiKeyRateLimit, RateLimitInfo } from './rate-limit.js';

/** What an upstream response means for the account that served it. */
export type RateLimitVerdict =
  | { kind: 'ok' }
  /** A 429 about this request alone (no window rejected): retry, but keep the account in rotation. */
  | { kind: 'request_scoped'; retryAfterMs?: number }
  /** Out until `until` (epoch ms); with `modelFamily`, only for that family. */
  | { kind: 'account_limited'; until: number; window?: string; modelFamily?: KnownModelFamily }
  /** 529: Anthropic is overloaded, not the account's fault. */
  | { kind: 'overloaded' }
  /** 401: refresh the credential. */
  | { kind: 'auth_expired' }
  /** 403: the account needs a human. */
  | { kind: 'account_disabled' };

/** One limit a 429 reports as exhausted. */
export interface RateLimitRejection {
  until: number;
  window?: string;
  modelFamily?: KnownModelFamily;
}

/** How long to bench an account when a rejection names no time at all. */
export const FALLBACK_LIMIT_MS = 60_000;

function rejection(window: string | undefined, until: number): RateLimitRejection {
  const result: RateLimitRejection = { until };
  if (window === undefined) return result;
  result.window = window;
  const family = familyOfWindow(window);
  if (family) result.modelFamily = family;
  return result;
}

function unifiedRejections(info: RateLimitInfo, nowMs: number, fallback: number): RateLimitRejection[] {
  const unified = info.unified;
  if (!unified) return [];
  // A reset already past would bench nothing and invite the same 429 again.
  const future = (t: number | undefined): number => (t !== undefined && t > nowMs ? t : fallback);
  const out: RateLimitRejection[] = [];
  for (const [name, window] of Object.entries(unified.windows)) {
    if (window.status === 'rejected') out.push(rejection(name, future(window.resetAt ?? unified.resetAt)));
  }
  if (out.length > 0 || unified.status !== 'rejected') return out;
  // No window header says which limit: the representative claim names the one that binds.
  const name = unified.representativeClaim === undefined ? undefined : windowForClaim(unified.representativeClaim);
  const resetAt = name === undefined ? undefined : unified.windows[name]?.resetAt;
  return [rejection(name, future(resetAt ?? unified.resetAt))];
}

const BUCKET_WINDOWS: ReadonlyArray<[keyof ApiKeyRateLimit, string]> = [
  ['requests', 'requests'],
  ['tokens', 'tokens'],
  ['inputTokens', 'input_tokens'],
  ['outputTokens', 'output_tokens'],
];

function apiKeyRejections(info: RateLimitInfo, nowMs: number): RateLimitRejection[] {
  const apiKey = info.apiKey;
  if (!apiKey) return [];
  const out: RateLimitRejection[] = [];
  for (const [key, window] of BUCKET_WINDOWS) {
    const bucket = apiKey[key];
    if (bucket?.remaining !== 0) continue;
    // Buckets refill continuously: retry-after says when a request fits, the reset when the bucket is full.
    const resetAt = bucket.resetAt !== undefined && bucket.resetAt > nowMs ? bucket.resetAt : undefined;
    const until = info.retryAfterMs !== undefined ? nowMs + info.retryAfterMs : resetAt;
    out.push({ until: until ?? nowMs + FALLBACK_LIMIT_MS, window });
  }
  return out;
}

/**
 * Every limit a 429's headers report as exhausted: rejected unified windows (else the representative
 * claim when only the overall status says `rejected`), and API-key buckets with nothing remaining.
 * Empty means the 429 was request-scoped.
 */
export function listRateLimitRejections(info: RateLimitInfo, nowMs: number): RateLimitRejection[] {
  const fallback = nowMs + (info.retryAfterMs ?? FALLBACK_LIMIT_MS);
  return [...unifiedRejections(info, nowMs, fallback), ...apiKeyRejections(info, nowMs)];
}

function latest(rejections: RateLimitRejection[]): RateLimitRejection | undefined {
  return rejections.reduce<RateLimitRejection | undefined>(
    (a, b) => (a === undefined || b.until > a.until ? b : a),
    undefined,
  );
}

/**
 * Classifies a response by status and rate-limit headers (never by message text). An account-wide
 * rejection outranks a per-family one; among several, the latest reset wins, since the account is out
 * until all of them lift.
 */
export function classifyRateLimit(status: number, info: RateLimitInfo, nowMs: number): RateLimitVerdict {
  if (status === 529) return { kind: 'overloaded' };
  if (status === 401) return { kind: 'auth_expired' };
  if (status === 403) return { kind: 'account_disabled' };
  if (status !== 429) return { kind: 'ok' };
  const rejections = listRateLimitRejections(info, nowMs);
  const chosen = latest(rejections.filter((r) => r.modelFamily === undefined)) ?? latest(rejections);
  if (!chosen) {
    return info.retryAfterMs === undefined
      ? { kind: 'request_scoped' }
      : { kind: 'request_scoped', retryAfterMs: info.retryAfterMs };
  }
  return { kind: 'account_limited', ...chosen };
}
