import { betaRefusal } from './beta-match.js';

describe('betaRefusal', () => {
  it('lets any beta through a key without a list, and a request without the header through any key', () => {
    expect(betaRefusal(null, { 'anthropic-beta': 'anything-2099-01-01' })).toBeUndefined();
    expect(betaRefusal([], {})).toBeUndefined();
  });

  it('admits listed values, also several in one header or over several header lines', () => {
    const allowed = ['oauth-2025-04-20', 'interleaved-thinking-2025-05-14'];
    expect(
      betaRefusal(allowed, { 'anthropic-beta': 'oauth-2025-04-20, interleaved-thinking-2025-05-14' }),
    ).toBeUndefined();
    expect(
      betaRefusal(allowed, { 'anthropic-beta': ['oauth-2025-04-20', 'interleaved-thinking-2025-05-14,'] }),
    ).toBeUndefined();
  });

  it('refuses with 403 permission_error naming the first value outside the list', () => {
    const err = betaRefusal(['oauth-2025-04-20'], { 'anthropic-beta': 'oauth-2025-04-20,context-1m-2025-08-07' });
    expect(err).toMatchObject({ code: 'beta_not_allowed', status: 403, anthropicType: 'permission_error' });
    expect(err?.message).toContain('"context-1m-2025-08-07"');
    expect(err?.message).toContain('only oauth-2025-04-20');
    expect(betaRefusal([], { 'anthropic-beta': 'a' })?.message).toContain('no anthropic-beta values');
  });
});
