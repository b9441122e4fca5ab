import { FALLBACK_LIMIT_MS, classifyRateLimit, listRateLimitRejections } from './classify-rate-limit.js';
import { parseRateLimitHeaders } from './rate-limit.js';
import type { HeaderRecord } from './header-source.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const SEC = NOW / 1000;
const H = 3_600;

const classify = (status: number, headers: HeaderRecord) =>
  classifyRateLimit(status, parseRateLimitHeaders(headers, NOW), NOW);

const REJECTED_5H: HeaderRecord = {
  'anthropic-ratelimit-unified-status': 'rejected',
  'anthropic-ratelimit-unified-reset': String(SEC + 2 * H),
  'anthropic-ratelimit-unified-representative-claim': 'five_hour',
  'anthropic-ratelimit-unified-5h-status': 'rejected',
  'anthropic-ratelimit-unified-5h-reset': String(SEC + 2 * H),
  'anthropic-ratelimit-unified-5h-utilization': '1.01',
  'anthropic-ratelimit-unified-7d-status': 'allowed',
  'anthropic-ratelimit-unified-7d-reset': String(SEC + 90 * H),
  'anthropic-ratelimit-unified-7d-utilization': '0.6',
  'retry-after': String(2 * H),
  'x-should-retry': 'false',
};

const REJECTED_OPUS: HeaderRecord = {
  'anthropic-ratelimit-unified-status': 'rejected',
  'anthropic-ratelimit-unified-reset': String(SEC + 40 * H),
  'anthropic-ratelimit-unified-representative-claim': 'seven_day_opus',
  'anthropic-ratelimit-unified-5h-status': 'allowed',
  'anthropic-ratelimit-unified-5h-utilization': '0.2',
  'anthropic-ratelimit-unified-7d_opus-status': 'rejected',
  'anthropic-ratelimit-unified-7d_opus-reset': String(SEC + 40 * H),
  'anthropic-ratelimit-unified-7d_opus-utilization': '1.0',
};

describe('classifyRateLimit', () => {
  it('calls allowed and allowed_warning responses ok', () => {
    const allowed = {
      'anthropic-ratelimit-unified-status': 'allowed',
      'anthropic-ratelimit-unified-5h-utilization': '0.4',
    };
    expect(classify(200, allowed)).toEqual({ kind: 'ok' });
    expect(classify(200, { ...allowed, 'anthropic-ratelimit-unified-status': 'allowed_warning' })).toEqual({
      kind: 'ok',
    });
    // A 200 served from overage while the plan says rejected does not bench the account.
    expect(classify(200, REJECTED_5H)).toEqual({ kind: 'ok' });
  });

  it('benches the account until the rejected 5h window resets', () => {
    expect(classify(429, REJECTED_5H)).toEqual({ kind: 'account_limited', until: NOW + 2 * H * 1000, window: '5h' });
  });

  it('limits one model family when only its per-model window is rejected', () => {
    expect(classify(429, REJECTED_OPUS)).toEqual({
      kind: 'account_limited',
      until: NOW + 40 * H * 1000,
      window: '7d_opus',
      modelFamily: 'opus',
    });
  });

  it('reads the family from the representative claim when no window header says which limit binds', () => {
    const claimOnly = {
      'anthropic-ratelimit-unified-status': 'rejected',
      'anthropic-ratelimit-unified-reset': String(SEC + 100 * H),
      'anthropic-ratelimit-unified-representative-claim': 'seven_day_opus',
    };
    expect(classify(429, claimOnly)).toEqual({
      kind: 'account_limited',
      until: NOW + 100 * H * 1000,
      window: '7d_opus',
      modelFamily: 'opus',
    });
    const weekly = { ...claimOnly, 'anthropic-ratelimit-unified-representative-claim': 'seven_day' };
    expect(classify(429, weekly)).toEqual({ kind: 'account_limited', until: NOW + 100 * H * 1000, window: '7d' });
  });

  it('lets an account-wide rejection outrank a family one, and the latest reset win', () => {
    const both = {
      ...REJECTED_OPUS,
      'anthropic-ratelimit-unified-5h-status': 'rejected',
      'anthropic-ratelimit-unified-5h-reset': String(SEC + 3 * H),
      'anthropic-ratelimit-unified-7d-status': 'rejected',
      'anthropic-ratelimit-unified-7d-reset': String(SEC + 20 * H),
    };
    expect(classify(429, both)).toEqual({ kind: 'account_limited', until: NOW + 20 * H * 1000, window: '7d' });
    expect(listRateLimitRejections(parseRateLimitHeaders(both, NOW), NOW)).toHaveLength(3);
  });

  it('keeps the account for a 429 with no window headers', () => {
    expect(classify(429, { 'x-should-retry': 'true', 'retry-after': '5' })).toEqual({
      kind: 'request_scoped',
      retryAfterMs: 5_000,
    });
    expect(classify(429, {})).toEqual({ kind: 'request_scoped' });
    // Windows present but none rejected: still this request's problem.
    expect(
      classify(429, {
        'anthropic-ratelimit-unified-status': 'allowed',
        'anthropic-ratelimit-unified-5h-status': 'allowed',
      }),
    ).toEqual({
      kind: 'request_scoped',
    });
  });

  it('does not bench an account because its overage is rejected', () => {
    const overageOnly = {
      'anthropic-ratelimit-unified-status': 'allowed',
      'anthropic-ratelimit-unified-overage-status': 'rejected',
      'anthropic-ratelimit-unified-overage-reset': String(SEC + 500 * H),
      'anthropic-ratelimit-unified-overage-disabled-reason': 'out_of_credits',
      'retry-after': '2',
    };
    expect(classify(429, overageOnly)).toEqual({ kind: 'request_scoped', retryAfterMs: 2_000 });
  });

  it('falls back to the unified reset, then retry-after, then a default when a window has no reset', () => {
    const windowOnly = { 'anthropic-ratelimit-unified-5h-status': 'rejected' };
    expect(classify(429, { ...windowOnly, 'anthropic-ratelimit-unified-reset': String(SEC + H) })).toMatchObject({
      until: NOW + H * 1000,
    });
    expect(classify(429, { ...windowOnly, 'retry-after': '120' })).toMatchObject({ until: NOW + 120_000 });
    expect(classify(429, windowOnly)).toMatchObject({ until: NOW + FALLBACK_LIMIT_MS });
    // A reset already past would bench nothing: retry-after decides instead.
    expect(
      classify(429, { ...windowOnly, 'anthropic-ratelimit-unified-5h-reset': String(SEC - 10), 'retry-after': '30' }),
    ).toMatchObject({
      until: NOW + 30_000,
    });
  });

  it('benches an API-key account whose bucket is empty, until retry-after', () => {
    const apiKey = {
      'anthropic-ratelimit-requests-limit': '50',
      'anthropic-ratelimit-requests-remaining': '49',
      'anthropic-ratelimit-requests-reset': '2026-01-15T12:00:01Z',
      'anthropic-ratelimit-input-tokens-limit': '30000',
      'anthropic-ratelimit-input-tokens-remaining': '0',
      'anthropic-ratelimit-input-tokens-reset': '2026-01-15T12:01:00Z',
      'retry-after': '12',
    };
    expect(classify(429, apiKey)).toEqual({ kind: 'account_limited', until: NOW + 12_000, window: 'input_tokens' });
    const { 'retry-after': _ignored, ...noRetryAfter } = apiKey;
    expect(classify(429, noRetryAfter)).toEqual({
      kind: 'account_limited',
      until: NOW + 60_000,
      window: 'input_tokens',
    });
    expect(classify(200, apiKey)).toEqual({ kind: 'ok' });
  });

  it('classifies overload, expired credentials and disabled accounts by status', () => {
    expect(classify(529, REJECTED_5H)).toEqual({ kind: 'overloaded' });
    expect(classify(401, {})).toEqual({ kind: 'auth_expired' });
    expect(classify(403, {})).toEqual({ kind: 'account_disabled' });
    expect(classify(500, {})).toEqual({ kind: 'ok' });
  });
});
