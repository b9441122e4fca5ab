import { isModelAllowed } from './model-match.js';

describe('isModelAllowed', () => {
  it('lets any model (or none) through when the key has no list', () => {
    expect(isModelAllowed(null, 'claude-opus-4-1')).toBe(true);
    expect(isModelAllowed(null, undefined)).toBe(true);
  });

  it('matches listed ids exactly', () => {
    const allowed = ['claude-sonnet-4-5', 'claude-haiku-4-5'];
    expect(isModelAllowed(allowed, 'claude-haiku-4-5')).toBe(true);
    expect(isModelAllowed(allowed, 'claude-sonnet-4-5-20250929')).toBe(false);
    expect(isModelAllowed(allowed, 'claude-sonnet-4')).toBe(false);
    expect(isModelAllowed(allowed, 'CLAUDE-HAIKU-4-5')).toBe(false);
  });

  it('treats a trailing * as a prefix wildcard', () => {
    const allowed = ['claude-sonnet-*'];
    expect(isModelAllowed(allowed, 'claude-sonnet-4-5')).toBe(true);
    expect(isModelAllowed(allowed, 'claude-sonnet-')).toBe(true);
    expect(isModelAllowed(allowed, 'claude-opus-4-1')).toBe(false);
    expect(isModelAllowed(allowed, 'x-claude-sonnet-4')).toBe(false);
    expect(isModelAllowed(['*'], 'anything')).toBe(true);
  });

  it('refuses a request without a model when the key has a list, and everything for an empty list', () => {
    expect(isModelAllowed(['claude-sonnet-*'], undefined)).toBe(false);
    expect(isModelAllowed(['*'], '')).toBe(false);
    expect(isModelAllowed([], 'claude-sonnet-4-5')).toBe(false);
  });
});
