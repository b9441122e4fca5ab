import { familyOfWindow, modelFamily, windowForClaim } from './model-family.js';

describe('modelFamily', () => {
  it.each([
    ['claude-opus-4-5-20251101', 'opus'],
    ['claude-opus-4-1', 'opus'],
    ['claude-3-opus-20240229', 'opus'],
    ['claude-3-5-sonnet-latest', 'sonnet'],
    ['claude-sonnet-4-6', 'sonnet'],
    ['claude-3-7-sonnet@20250219', 'sonnet'],
    ['anthropic.claude-3-5-sonnet-20240620-v1:0', 'sonnet'],
    ['claude-3-haiku-20240307', 'haiku'],
    ['claude-haiku-4-5', 'haiku'],
    ['Claude-Opus-4', 'opus'],
  ])('%s → %s', (model, family) => {
    expect(modelFamily(model)).toBe(family);
  });

  it('names an unknown family by its first word that is not vendor, version or date', () => {
    expect(modelFamily('claude-mythos-5-20260101')).toBe('mythos');
    expect(modelFamily('claude-instant-1.2')).toBe('instant');
    expect(modelFamily('claude-2.1')).toBe('claude-2.1');
  });
});

describe('familyOfWindow', () => {
  it('scopes per-model windows to their family and leaves the others account-wide', () => {
    expect(familyOfWindow('7d_opus')).toBe('opus');
    expect(familyOfWindow('7d_sonnet')).toBe('sonnet');
    expect(familyOfWindow('5h')).toBeUndefined();
    expect(familyOfWindow('7d')).toBeUndefined();
    // Not a model family: it may cover every request, so it counts as account-wide.
    expect(familyOfWindow('7d_oauth_apps')).toBeUndefined();
  });
});

describe('windowForClaim', () => {
  it('maps representative claims onto window names', () => {
    expect(windowForClaim('five_hour')).toBe('5h');
    expect(windowForClaim('seven_day')).toBe('7d');
    expect(windowForClaim('seven_day_opus')).toBe('7d_opus');
    expect(windowForClaim('overage')).toBe('overage');
  });
});
