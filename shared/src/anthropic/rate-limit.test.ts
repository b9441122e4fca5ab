import { parseRateLimitHeaders } from './rate-limit.js';
import type { HeaderRecord } from './header-source.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const SEC = NOW / 1000;
const H = 3_600;

// Shapes from docs/ANTHROPIC.md §4, as node's IncomingHttpHeaders would hold them.
const ALLOWED: HeaderRecord = {
  'content-type': 'text/event-stream',
  'request-id': 'req_1',
  'anthropic-ratelimit-unified-status': 'allowed',
  'anthropic-ratelimit-unified-reset': String(SEC + H),
  'anthropic-ratelimit-unified-representative-claim': 'five_hour',
  'anthropic-ratelimit-unified-5h-status': 'allowed',
  'anthropic-ratelimit-unified-5h-reset': String(SEC + H),
  'anthropic-ratelimit-unified-5h-utilization': '0.42',
  'anthropic-ratelimit-unified-7d-status': 'allowed',
  'anthropic-ratelimit-unified-7d-reset': String(SEC + 72 * H),
  'anthropic-ratelimit-unified-7d-utilization': '0.17',
  'anthropic-ratelimit-unified-overage-status': 'rejected',
  'anthropic-ratelimit-unified-overage-disabled-reason': 'org_level_disabled',
};

describe('parseRateLimitHeaders', () => {
  it('reads the unified windows, the claim and the overage state of an allowed response', () => {
    expect(parseRateLimitHeaders(ALLOWED, NOW)).toStrictEqual({
      unified: {
        status: 'allowed',
        resetAt: NOW + H * 1000,
        representativeClaim: 'five_hour',
        windows: {
          '5h': { status: 'allowed', resetAt: NOW + H * 1000, utilization: 0.42 },
          '7d': { status: 'allowed', resetAt: NOW + 72 * H * 1000, utilization: 0.17 },
        },
        overage: { status: 'rejected', disabledReason: 'org_level_disabled' },
      },
    });
  });

  it('reads allowed_warning, surpassed thresholds and over-limit utilization', () => {
    const info = parseRateLimitHeaders(
      {
        ...ALLOWED,
        'anthropic-ratelimit-unified-status': 'allowed_warning',
        'anthropic-ratelimit-unified-7d-status': 'allowed_warning',
        'anthropic-ratelimit-unified-7d-utilization': '1.01',
        'anthropic-ratelimit-unified-7d-surpassed-threshold': '0.9',
      },
      NOW,
    );
    expect(info.unified?.status).toBe('allowed_warning');
    expect(info.unified?.windows['7d']).toStrictEqual({
      status: 'allowed_warning',
      resetAt: NOW + 72 * H * 1000,
      utilization: 1.01,
      surpassedThreshold: 0.9,
    });
  });

  it('reads any window name, including per-model families, without mistaking overage for one', () => {
    const info = parseRateLimitHeaders(
      {
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-7d_opus-status': 'rejected',
        'anthropic-ratelimit-unified-7d_opus-reset': String(SEC + 48 * H),
        'anthropic-ratelimit-unified-7d_opus-utilization': '1.0',
        'anthropic-ratelimit-unified-7d_sonnet-utilization': '0.3',
        'anthropic-ratelimit-unified-overage-status': 'allowed',
        'anthropic-ratelimit-unified-overage-reset': String(SEC + 400 * H),
        'anthropic-ratelimit-unified-overage-utilization': '0.05',
        'anthropic-ratelimit-unified-overage-in-use': 'true',
        'anthropic-ratelimit-unified-overage-surpassed-threshold': '0.9',
        'anthropic-ratelimit-unified-fallback-percentage': '0.5',
      },
      NOW,
    );
    expect(info.unified?.windows).toStrictEqual({
      '7d_opus': { status: 'rejected', resetAt: NOW + 48 * H * 1000, utilization: 1 },
      '7d_sonnet': { utilization: 0.3 },
    });
    expect(info.unified?.overage).toStrictEqual({
      status: 'allowed',
      resetAt: NOW + 400 * H * 1000,
      utilization: 0.05,
      inUse: true,
    });
  });

  it('reads a rejected 5h window with retry-after and x-should-retry', () => {
    const info = parseRateLimitHeaders(
      {
        'anthropic-ratelimit-unified-status': 'rejected',
        'anthropic-ratelimit-unified-reset': String(SEC + 2 * H),
        'anthropic-ratelimit-unified-representative-claim': 'five_hour',
        'anthropic-ratelimit-unified-5h-status': 'rejected',
        'anthropic-ratelimit-unified-5h-reset': String(SEC + 2 * H),
        'anthropic-ratelimit-unified-5h-utilization': '1.01',
        'retry-after': String(2 * H),
        'x-should-retry': 'false',
      },
      NOW,
    );
    expect(info.unified?.status).toBe('rejected');
    expect(info.unified?.windows['5h']).toStrictEqual({
      status: 'rejected',
      resetAt: NOW + 2 * H * 1000,
      utilization: 1.01,
    });
    expect(info.retryAfterMs).toBe(2 * H * 1000);
    expect(info.shouldRetry).toBe(false);
  });

  it('reads a request-scoped 429 as retry hints only', () => {
    expect(parseRateLimitHeaders({ 'x-should-retry': 'true', 'retry-after': '3' }, NOW)).toStrictEqual({
      retryAfterMs: 3000,
      shouldRetry: true,
    });
    expect(parseRateLimitHeaders({ 'content-type': 'application/json' }, NOW)).toStrictEqual({});
  });

  it('reads API-key buckets with RFC 3339 resets', () => {
    const info = parseRateLimitHeaders(
      {
        'anthropic-ratelimit-requests-limit': '50',
        'anthropic-ratelimit-requests-remaining': '0',
        'anthropic-ratelimit-requests-reset': '2026-01-15T12:00:30Z',
        'anthropic-ratelimit-tokens-limit': '90000',
        'anthropic-ratelimit-tokens-remaining': '89000',
        'anthropic-ratelimit-tokens-reset': '2026-01-15T12:00:01.5Z',
        'anthropic-ratelimit-input-tokens-limit': '80000',
        'anthropic-ratelimit-input-tokens-remaining': '79500',
        'anthropic-ratelimit-input-tokens-reset': '2026-01-15T12:00:01Z',
        'anthropic-ratelimit-output-tokens-limit': '16000',
        'anthropic-ratelimit-output-tokens-remaining': '16000',
        'anthropic-ratelimit-output-tokens-reset': 'not a date',
        'anthropic-ratelimit-bogus-limit': '1',
      },
      NOW,
    );
    expect(info).toStrictEqual({
      apiKey: {
        requests: { limit: 50, remaining: 0, resetAt: NOW + 30_000 },
        tokens: { limit: 90_000, remaining: 89_000, resetAt: NOW + 1_500 },
        inputTokens: { limit: 80_000, remaining: 79_500, resetAt: NOW + 1_000 },
        outputTokens: { limit: 16_000, remaining: 16_000 },
      },
    });
  });

  it('accepts IncomingHttpHeaders, fetch Headers, a Map and mixed-case records alike', () => {
    const expected = parseRateLimitHeaders(ALLOWED, NOW);
    const asArrays = Object.fromEntries(Object.entries(ALLOWED).map(([k, v]) => [k, [String(v)]]));
    const mixedCase = Object.fromEntries(
      Object.entries(ALLOWED).map(([k, v]) => [k.replace(/(^|-)([a-z])/g, (m) => m.toUpperCase()), v]),
    );
    const entries = Object.entries(ALLOWED).map(([k, v]): [string, string] => [k, String(v)]);
    expect(mixedCase['Anthropic-Ratelimit-Unified-Status']).toBe('allowed');
    expect(parseRateLimitHeaders(asArrays, NOW)).toStrictEqual(expected);
    expect(parseRateLimitHeaders(mixedCase, NOW)).toStrictEqual(expected);
    expect(parseRateLimitHeaders(new Headers(entries), NOW)).toStrictEqual(expected);
    expect(parseRateLimitHeaders(new Map(entries), NOW)).toStrictEqual(expected);
  });

  it('reads retry-after as an HTTP date, and prefers retry-after-ms', () => {
    const date = new Date(NOW + 90_000).toUTCString();
    expect(parseRateLimitHeaders({ 'retry-after': date }, NOW).retryAfterMs).toBe(90_000);
    expect(parseRateLimitHeaders({ 'retry-after': new Date(NOW - 5_000).toUTCString() }, NOW).retryAfterMs).toBe(0);
    expect(parseRateLimitHeaders({ 'retry-after': '3', 'retry-after-ms': '1250.5' }, NOW).retryAfterMs).toBe(1251);
    expect(parseRateLimitHeaders({ 'retry-after': 'soon' }, NOW).retryAfterMs).toBeUndefined();
  });

  it('derives the unified status from the windows when the header is missing or unknown', () => {
    const rejected = { 'anthropic-ratelimit-unified-5h-status': 'rejected' };
    expect(parseRateLimitHeaders(rejected, NOW).unified?.status).toBe('rejected');
    expect(
      parseRateLimitHeaders({ ...rejected, 'anthropic-ratelimit-unified-status': 'queued' }, NOW).unified?.status,
    ).toBe('rejected');
    expect(parseRateLimitHeaders({ 'anthropic-ratelimit-unified-5h-utilization': '0.1' }, NOW).unified?.status).toBe(
      'allowed',
    );
  });

  it('leaves out values that do not parse', () => {
    const info = parseRateLimitHeaders(
      {
        'anthropic-ratelimit-unified-status': 'allowed',
        'anthropic-ratelimit-unified-reset': 'tomorrow',
        'anthropic-ratelimit-unified-5h-utilization': '',
        'anthropic-ratelimit-unified-5h-status': 'maybe',
        'x-should-retry': 'perhaps',
      },
      NOW,
    );
    expect(info).toStrictEqual({ unified: { status: 'allowed', windows: { '5h': {} } } });
  });

  it('keeps hostile window names away from Object.prototype', () => {
    const info = parseRateLimitHeaders(
      {
        'anthropic-ratelimit-unified-__proto__-status': 'rejected',
        'anthropic-ratelimit-unified-constructor-utilization': '0.5',
      },
      NOW,
    );
    expect(({} as Record<string, unknown>).status).toBeUndefined();
    expect((Object as unknown as Record<string, unknown>).utilization).toBeUndefined();
    expect(Object.getPrototypeOf(info.unified?.windows)).toBe(Object.prototype);
    expect(Object.keys(info.unified?.windows ?? {})).toEqual(['constructor']);
    expect(Object.getOwnPropertyDescriptor(info.unified?.windows, 'constructor')?.value).toEqual({ utilization: 0.5 });
  });
});
