import {
  AccountStateSchema,
  availableAt,
  effectiveState,
  initialAccountState,
  nextAccountState,
} from './account-state.js';
import type { AccountState } from './account-state.js';
import { parseRateLimitHeaders } from './rate-limit.js';
import type { HeaderRecord } from './header-source.js';

const NOW = Date.UTC(2026, 0, 15, 12, 0, 0);
const SEC = NOW / 1000;
const H = 3_600;
const HOUR_MS = H * 1000;

function apply(prev: AccountState, status: number, headers: HeaderRecord, now = NOW): AccountState {
  return nextAccountState(prev, status, parseRateLimitHeaders(headers, now), now);
}

const ALLOWED: HeaderRecord = {
  'anthropic-ratelimit-unified-status': 'allowed',
  'anthropic-ratelimit-unified-reset': String(SEC + H),
  'anthropic-ratelimit-unified-representative-claim': 'five_hour',
  'anthropic-ratelimit-unified-5h-status': 'allowed',
  'anthropic-ratelimit-unified-5h-reset': String(SEC + H),
  'anthropic-ratelimit-unified-5h-utilization': '0.42',
  'anthropic-ratelimit-unified-7d-status': 'allowed',
  'anthropic-ratelimit-unified-7d-reset': String(SEC + 72 * H),
  'anthropic-ratelimit-unified-7d-utilization': '0.17',
};

const REJECTED_5H: HeaderRecord = {
  'anthropic-ratelimit-unified-status': 'rejected',
  'anthropic-ratelimit-unified-reset': String(SEC + 2 * H),
  'anthropic-ratelimit-unified-representative-claim': 'five_hour',
  'anthropic-ratelimit-unified-5h-status': 'rejected',
  'anthropic-ratelimit-unified-5h-reset': String(SEC + 2 * H),
  'anthropic-ratelimit-unified-5h-utilization': '1.01',
  'retry-after': String(2 * H),
};

const REJECTED_OPUS: HeaderRecord = {
  'anthropic-ratelimit-unified-status': 'rejected',
  'anthropic-ratelimit-unified-representative-claim': 'seven_day_opus',
  'anthropic-ratelimit-unified-7d_opus-status': 'rejected',
  'anthropic-ratelimit-unified-7d_opus-reset': String(SEC + 30 * H),
};

describe('nextAccountState', () => {
  it('refreshes the window figures from every response', () => {
    const state = apply(initialAccountState(NOW - 1000), 200, ALLOWED);
    expect(state).toStrictEqual({
      state: 'available',
      fiveHour: { utilization: 0.42, resetAt: NOW + HOUR_MS },
      sevenDay: { utilization: 0.17, resetAt: NOW + 72 * HOUR_MS },
      representativeClaim: 'five_hour',
      updatedAt: NOW,
    });
    // A later response without 7d figures keeps the old ones; one without a claim clears it.
    const later = apply(state, 200, { 'anthropic-ratelimit-unified-5h-utilization': '0.5' }, NOW + 1000);
    expect(later.fiveHour).toEqual({ utilization: 0.5, resetAt: NOW + HOUR_MS });
    expect(later.sevenDay).toEqual(state.sevenDay);
    expect(later.representativeClaim).toBeUndefined();
    expect(later.updatedAt).toBe(NOW + 1000);
  });

  it('benches the whole account on a rejected window and lets it back once the reset passes', () => {
    const limited = apply(initialAccountState(NOW), 429, REJECTED_5H);
    expect(limited.state).toBe('limited');
    expect(limited.limitedUntil).toBe(NOW + 2 * HOUR_MS);
    expect(limited.fiveHour).toEqual({ utilization: 1.01, resetAt: NOW + 2 * HOUR_MS });
    expect(effectiveState(limited, NOW + HOUR_MS)).toBe('limited');
    expect(effectiveState(limited, NOW + HOUR_MS, 'sonnet')).toBe('limited');
    expect(effectiveState(limited, NOW + 2 * HOUR_MS)).toBe('available');
    expect(availableAt(limited, NOW)).toBe(NOW + 2 * HOUR_MS);

    const recovered = apply(limited, 200, ALLOWED, NOW + 2 * HOUR_MS + 1);
    expect(recovered.state).toBe('available');
    expect(recovered.limitedUntil).toBeUndefined();
  });

  it('keeps a limited account limited while the reset is ahead, whatever else arrives', () => {
    const limited = apply(initialAccountState(NOW), 429, REJECTED_5H);
    expect(apply(limited, 200, ALLOWED, NOW + 1000)).toMatchObject({
      state: 'limited',
      limitedUntil: NOW + 2 * HOUR_MS,
    });
    expect(apply(limited, 429, { 'x-should-retry': 'true' }, NOW + 1000)).toMatchObject({
      state: 'limited',
      limitedUntil: NOW + 2 * HOUR_MS,
    });
    // A newer rejection carries the newer reset.
    const moved = { ...REJECTED_5H, 'anthropic-ratelimit-unified-5h-reset': String(SEC + 3 * H) };
    expect(apply(limited, 429, moved, NOW + 1000).limitedUntil).toBe(NOW + 3 * HOUR_MS);
  });

  it('limits one family on a per-model rejection and keeps the account available for the others', () => {
    const state = apply(initialAccountState(NOW), 429, REJECTED_OPUS);
    expect(state.state).toBe('available');
    expect(state.limitedFamilies).toEqual({ opus: NOW + 30 * HOUR_MS });
    expect(effectiveState(state, NOW, 'opus')).toBe('limited');
    expect(effectiveState(state, NOW, 'sonnet')).toBe('available');
    expect(effectiveState(state, NOW)).toBe('available');
    expect(availableAt(state, NOW, 'opus')).toBe(NOW + 30 * HOUR_MS);
    expect(availableAt(state, NOW, 'sonnet')).toBeUndefined();

    const sonnetToo = {
      ...REJECTED_OPUS,
      'anthropic-ratelimit-unified-7d_sonnet-status': 'rejected',
      'anthropic-ratelimit-unified-7d_sonnet-reset': String(SEC + 10 * H),
    };
    const both = apply(state, 429, sonnetToo, NOW + 1000);
    expect(both.limitedFamilies).toEqual({ opus: NOW + 30 * HOUR_MS, sonnet: NOW + 10 * HOUR_MS });

    const later = apply(both, 200, ALLOWED, NOW + 10 * HOUR_MS);
    expect(later.limitedFamilies).toEqual({ opus: NOW + 30 * HOUR_MS });
    const expired = apply(later, 200, ALLOWED, NOW + 30 * HOUR_MS);
    expect(expired.limitedFamilies).toBeUndefined();
    expect(effectiveState(expired, NOW + 30 * HOUR_MS, 'opus')).toBe('available');
  });

  it('ignores request-scoped 429s, overload, and 401/403 (the credential layer decides those)', () => {
    const start = apply(initialAccountState(NOW), 200, ALLOWED);
    for (const status of [429, 529, 401, 403, 500]) {
      expect(apply(start, status, { 'x-should-retry': 'true', 'retry-after': '3' }, NOW + 5)).toStrictEqual({
        ...start,
        updatedAt: NOW + 5,
      });
    }
  });

  it('never lets rate-limit headers override needs_login, disabled or draining', () => {
    for (const pinned of ['needs_login', 'disabled', 'draining'] as const) {
      const prev: AccountState = { state: pinned, updatedAt: NOW - 1000 };
      const next = apply(prev, 429, REJECTED_5H);
      expect(next.state).toBe(pinned);
      expect(next.limitedUntil).toBeUndefined();
      expect(next.fiveHour?.utilization).toBe(1.01);
      expect(effectiveState(next, NOW)).toBe(pinned);
      expect(availableAt(next, NOW)).toBeUndefined();
      expect(apply(prev, 429, REJECTED_OPUS).limitedFamilies).toBeUndefined();
    }
  });

  it('does not change the state it was given', () => {
    const prev = apply(initialAccountState(NOW), 429, REJECTED_OPUS);
    const snapshot = structuredClone(prev);
    apply(prev, 429, REJECTED_5H, NOW + 1);
    apply(prev, 200, ALLOWED, NOW + 40 * HOUR_MS);
    expect(prev).toStrictEqual(snapshot);
  });
});

describe('effectiveState', () => {
  it('reads a family name that is also an Object property as unlimited', () => {
    const state: AccountState = { state: 'available', limitedFamilies: { opus: NOW + 1 }, updatedAt: NOW };
    expect(effectiveState(state, NOW, 'constructor')).toBe('available');
    expect(effectiveState(state, NOW, 'toString')).toBe('available');
  });
});

describe('AccountStateSchema', () => {
  it('round-trips a state through JSON, as Redis carries it', () => {
    const state = apply(apply(initialAccountState(NOW), 429, REJECTED_OPUS), 429, REJECTED_5H, NOW + 1);
    expect(AccountStateSchema.parse(JSON.parse(JSON.stringify(state)))).toStrictEqual(state);
  });

  it('rejects records that are not account states', () => {
    expect(AccountStateSchema.safeParse({ state: 'sleeping', updatedAt: NOW }).success).toBe(false);
    expect(AccountStateSchema.safeParse({ state: 'limited' }).success).toBe(false);
    expect(AccountStateSchema.safeParse({ state: 'limited', limitedUntil: 'soon', updatedAt: NOW }).success).toBe(
      false,
    );
  });
});
