import { collectHeaders } from './header-source.js';
import type { HeaderSource } from './header-source.js';

/** A subscription window's verdict, as the unified headers spell it. */
export type UnifiedStatus = 'allowed' | 'allowed_warning' | 'rejected';

/** One unified window (`5h`, `7d`, `7d_opus`, …). */
export interface RateLimitWindow {
  status?: UnifiedStatus;
  /** Epoch ms. */
  resetAt?: number;
  /** Fraction used, as sent (1.01 = over). */
  utilization?: number;
  /** The warning threshold the window has passed, as sent. */
  surpassedThreshold?: number;
}

/** Pay-as-you-go usage beyond the plan ("extra usage"): informative, it never benches an account here. */
export interface OverageInfo {
  /** As sent (`allowed`, `allowed_warning`, `rejected`, …); `rejected` is normal for accounts without overage. */
  status?: string;
  resetAt?: number;
  utilization?: number;
  disabledReason?: string;
  inUse?: boolean;
}

/** The unified (subscription) rate-limit headers. */
export interface UnifiedRateLimit {
  /** The header's value; when missing or unknown, `rejected` if a window says so, else `allowed`. */
  status: UnifiedStatus;
  resetAt?: number;
  /** `five_hour`, `seven_day`, `seven_day_opus`, …: the limit that binds. */
  representativeClaim?: string;
  windows: Record<string, RateLimitWindow>;
  overage?: OverageInfo;
}

/** One API-key bucket; `resetAt` is epoch ms. */
export interface ApiKeyBucket {
  limit?: number;
  remaining?: number;
  resetAt?: number;
}

/** The API-key rate-limit headers. */
export interface ApiKeyRateLimit {
  requests?: ApiKeyBucket;
  tokens?: ApiKeyBucket;
  inputTokens?: ApiKeyBucket;
  outputTokens?: ApiKeyBucket;
}

/** Everything a response's headers say about rate limits. */
export interface RateLimitInfo {
  unified?: UnifiedRateLimit;
  apiKey?: ApiKeyRateLimit;
  retryAfterMs?: number;
  shouldRetry?: boolean;
}

const PREFIX = 'anthropic-ratelimit-';
const UNIFIED = 'anthropic-ratelimit-unified-';
const STATUSES: ReadonlySet<string> = new Set<UnifiedStatus>(['allowed', 'allowed_warning', 'rejected']);
const WINDOW_FIELDS = [
  ['-surpassed-threshold', 'surpassedThreshold'],
  ['-utilization', 'utilization'],
  ['-status', 'status'],
  ['-reset', 'resetAt'],
] as const;
const BUCKETS: ReadonlyMap<string, keyof ApiKeyRateLimit> = new Map([
  ['requests', 'requests'],
  ['tokens', 'tokens'],
  ['input-tokens', 'inputTokens'],
  ['output-tokens', 'outputTokens'],
]);

function isRelevant(name: string): boolean {
  return name.startsWith(PREFIX) || name === 'retry-after' || name === 'retry-after-ms' || name === 'x-should-retry';
}

function parseNumber(value: string): number | undefined {
  if (value === '') return undefined;
  const n = Number(value);
  return Number.isFinite(n) ? n : undefined;
}

function parseStatus(value: string): UnifiedStatus | undefined {
  const lower = value.toLowerCase();
  return STATUSES.has(lower) ? (lower as UnifiedStatus) : undefined;
}

/** Unix seconds → epoch ms. A value already in ms (past year 5138 as seconds) is taken as ms. */
function parseEpochSeconds(value: string): number | undefined {
  const n = parseNumber(value);
  if (n === undefined || n <= 0) return undefined;
  return Math.round(n > 1e11 ? n : n * 1000);
}

function parseDate(value: string): number | undefined {
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Sets a field only when the header parsed, so results carry no `undefined` members. */
function put<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function setWindowField(window: RateLimitWindow, field: (typeof WINDOW_FIELDS)[number][1], value: string): void {
  if (field === 'status') put(window, 'status', parseStatus(value));
  else if (field === 'resetAt') put(window, 'resetAt', parseEpochSeconds(value));
  else put(window, field, parseNumber(value));
}

function setOverageField(overage: OverageInfo, rest: string, value: string): boolean {
  if (rest === 'overage-status') overage.status = value;
  else if (rest === 'overage-reset') put(overage, 'resetAt', parseEpochSeconds(value));
  else if (rest === 'overage-utilization') put(overage, 'utilization', parseNumber(value));
  else if (rest === 'overage-disabled-reason') overage.disabledReason = value;
  else if (rest === 'overage-in-use') overage.inUse = value.toLowerCase() === 'true';
  else return false;
  return true;
}

/** `<window>-<field>` headers; the overage ones have their own shape and never count as a window. */
function setWindowHeader(windows: Record<string, RateLimitWindow>, rest: string, value: string): void {
  for (const [suffix, field] of WINDOW_FIELDS) {
    if (!rest.endsWith(suffix)) continue;
    const name = rest.slice(0, -suffix.length);
    // `__proto__` and own-property checks keep a hostile header name from reaching Object.prototype.
    if (name === '' || name === 'overage' || name === '__proto__') return;
    let window = Object.hasOwn(windows, name) ? windows[name] : undefined;
    if (!window) {
      window = {};
      windows[name] = window;
    }
    setWindowField(window, field, value);
    return;
  }
}

function parseUnified(headers: Map<string, string>): UnifiedRateLimit | undefined {
  let found = false;
  let status: UnifiedStatus | undefined;
  const unified: UnifiedRateLimit = { status: 'allowed', windows: {} };
  const overage: OverageInfo = {};
  for (const [name, value] of headers) {
    if (!name.startsWith(UNIFIED)) continue;
    found = true;
    const rest = name.slice(UNIFIED.length);
    if (rest === 'status') status = parseStatus(value);
    else if (rest === 'reset') put(unified, 'resetAt', parseEpochSeconds(value));
    else if (rest === 'representative-claim') unified.representativeClaim = value;
    else if (setOverageField(overage, rest, value)) unified.overage = overage;
    else setWindowHeader(unified.windows, rest, value);
  }
  if (!found) return undefined;
  const anyRejected = Object.values(unified.windows).some((w) => w.status === 'rejected');
  unified.status = status ?? (anyRejected ? 'rejected' : 'allowed');
  return unified;
}

function parseApiKey(headers: Map<string, string>): ApiKeyRateLimit | undefined {
  let apiKey: ApiKeyRateLimit | undefined;
  for (const [name, value] of headers) {
    if (!name.startsWith(PREFIX) || name.startsWith(UNIFIED)) continue;
    const rest = name.slice(PREFIX.length);
    const dash = rest.lastIndexOf('-');
    const key = dash === -1 ? undefined : BUCKETS.get(rest.slice(0, dash));
    if (key === undefined) continue;
    const field = rest.slice(dash + 1);
    apiKey ??= {};
    const bucket = (apiKey[key] ??= {});
    if (field === 'limit') put(bucket, 'limit', parseNumber(value));
    else if (field === 'remaining') put(bucket, 'remaining', parseNumber(value));
    else if (field === 'reset') put(bucket, 'resetAt', parseDate(value));
  }
  return apiKey;
}

function parseRetryAfter(headers: Map<string, string>, nowMs: number): number | undefined {
  // Whole milliseconds: the result ends up in epoch-ms fields.
  const ms = parseNumber(headers.get('retry-after-ms') ?? '');
  if (ms !== undefined && ms >= 0) return Math.ceil(ms);
  const value = headers.get('retry-after');
  if (value === undefined) return undefined;
  const seconds = parseNumber(value);
  if (seconds !== undefined) return seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
  const at = parseDate(value);
  return at === undefined ? undefined : Math.max(0, at - nowMs);
}

/**
 * Reads the rate-limit headers of an Anthropic response: unified (subscription) windows, API-key
 * buckets, `retry-after` (seconds, an HTTP date, or Anthropic's `retry-after-ms`) and `x-should-retry`.
 * Header names are matched case-insensitively; unparsable values are left out.
 */
export function parseRateLimitHeaders(headers: HeaderSource, nowMs: number): RateLimitInfo {
  const relevant = collectHeaders(headers, isRelevant);
  const info: RateLimitInfo = {};
  if (relevant.size === 0) return info;
  const unified = parseUnified(relevant);
  if (unified) info.unified = unified;
  const apiKey = parseApiKey(relevant);
  if (apiKey) info.apiKey = apiKey;
  const retryAfterMs = parseRetryAfter(relevant, nowMs);
  if (retryAfterMs !== undefined) info.retryAfterMs = retryAfterMs;
  const shouldRetry = relevant.get('x-should-retry')?.toLowerCase();
  if (shouldRetry === 'true' || shouldRetry === 'false') info.shouldRetry = shouldRetry === 'true';
  return info;
}
