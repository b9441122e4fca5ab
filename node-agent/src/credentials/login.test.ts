import { createHash } from 'node:crypto';
import { buildAuthorizeUrl, createPkce, OAUTH_LOGIN_SCOPES, parsePastedCode } from './login.js';

describe('login helpers', () => {
  test('PKCE: the challenge is base64url(sha256(verifier)) without padding', () => {
    const { verifier, challenge } = createPkce();
    expect(challenge).toBe(createHash('sha256').update(verifier).digest('base64url'));
    expect(challenge).not.toMatch(/[=+/]/);
    expect(createPkce().verifier).not.toBe(verifier);
  });

  test('the authorize URL carries every parameter of docs/ANTHROPIC.md §1', () => {
    const url = buildAuthorizeUrl({
      authorizeUrl: 'https://claude.ai/oauth/authorize',
      clientId: 'cid',
      redirectUri: 'https://r.example/cb',
      challenge: 'ch',
      state: 'st',
    });
    expect(url.origin + url.pathname).toBe('https://claude.ai/oauth/authorize');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      code: 'true',
      client_id: 'cid',
      response_type: 'code',
      redirect_uri: 'https://r.example/cb',
      scope: OAUTH_LOGIN_SCOPES,
      code_challenge: 'ch',
      code_challenge_method: 'S256',
      state: 'st',
    });
  });

  test.each([
    ['code#state', { code: 'code', state: 'state' }],
    ['  code#state \n', { code: 'code', state: 'state' }],
    ['code-only', { code: 'code-only', state: undefined }],
    ['#state', { code: '', state: 'state' }],
    ['https://platform.claude.com/oauth/code/callback?code=abc&state=xyz', { code: 'abc', state: 'xyz' }],
  ])('parses the pasted %j', (text, expected) => {
    expect(parsePastedCode(text)).toEqual(expected);
  });
});
