import { CredentialError, parseCredentialText, serializeCredential, tryParseCredential } from './oauth-credential.js';

// Short literal fakes: nothing token-shaped is committed.
const opencode = {
  type: 'oauth',
  refresh: 'sk-ant-ort01-FAKE-1',
  access: 'sk-ant-oat01-FAKE-1',
  expires: 1_760_000_000_000,
};

describe('parseCredentialText', () => {
  test('reads the opencode record', () => {
    expect(parseCredentialText(JSON.stringify(opencode), 'test')).toEqual(opencode);
  });

  test('reads opencode wrapped as {"anthropic": …} (an opencode auth.json)', () => {
    const text = JSON.stringify({ anthropic: opencode, openai: { type: 'api', key: 'x' } });
    expect(parseCredentialText(text, 'test')).toEqual(opencode);
  });

  test("reads Claude Code's {claudeAiOauth: …}", () => {
    const text = JSON.stringify({
      claudeAiOauth: {
        accessToken: 'sk-ant-oat01-FAKE-2',
        refreshToken: 'sk-ant-ort01-FAKE-2',
        expiresAt: 1_760_000_000_123,
        scopes: ['user:inference'],
        subscriptionType: 'max',
      },
    });
    expect(parseCredentialText(text, 'test')).toEqual({
      type: 'oauth',
      refresh: 'sk-ant-ort01-FAKE-2',
      access: 'sk-ant-oat01-FAKE-2',
      expires: 1_760_000_000_123,
    });
  });

  test('drops unknown fields so the stored record stays in the opencode shape', () => {
    const parsed = parseCredentialText(JSON.stringify({ ...opencode, note: 'x' }), 'test');
    expect(Object.keys(parsed).sort()).toEqual(['access', 'expires', 'refresh', 'type']);
  });

  test.each([
    ['not JSON, only a token', 'sk-ant-ort01-FAKE-SECRET'],
    ['a refresh token without type', JSON.stringify({ refresh: 'sk-ant-ort01-FAKE-SECRET', access: 'a', expires: 1 })],
    ['an API key record', JSON.stringify({ anthropic: { type: 'api', key: 'sk-ant-api03-FAKE-SECRET' } })],
    ['expires as a string', JSON.stringify({ ...opencode, refresh: 'sk-ant-ort01-FAKE-SECRET', expires: 'soon' })],
    ['an empty refresh token', JSON.stringify({ ...opencode, refresh: '' })],
  ])('rejects %s naming the source and the fix, without echoing the secret', (_label, text) => {
    let error: unknown;
    try {
      parseCredentialText(text, 'CLAUDE_CREDENTIALS_FILE=/secrets/auth.json');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(CredentialError);
    const e = error as CredentialError;
    expect(e.code).toBe('malformed');
    expect(e.message).toContain('CLAUDE_CREDENTIALS_FILE=/secrets/auth.json');
    expect(e.message).toMatch(/Fix:/);
    expect(e.message).not.toContain('FAKE-SECRET');
    expect(e.cause).toBeUndefined();
  });
});

describe('serializeCredential', () => {
  test('writes the opencode record with a fixed key order, whatever the input order', () => {
    const text = serializeCredential({ expires: 5, access: 'a', refresh: 'r', type: 'oauth' });
    expect(text).toBe('{"type":"oauth","refresh":"r","access":"a","expires":5}');
    expect(tryParseCredential(text)).toEqual({ type: 'oauth', refresh: 'r', access: 'a', expires: 5 });
  });

  test('tryParseCredential answers undefined for absent or unusable records', () => {
    expect(tryParseCredential(null)).toBeUndefined();
    expect(tryParseCredential('{}')).toBeUndefined();
  });
});
