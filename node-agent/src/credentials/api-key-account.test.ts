import { createApiKeyAccount, maskApiKey } from './api-key-account.js';

describe('createApiKeyAccount', () => {
  const key = `sk-ant-api03-${'x'.repeat(10)}WXYZ`;

  test('sends the key as x-api-key and never as a Bearer credential', async () => {
    const account = createApiKeyAccount(key);
    const { headers, token } = await account.credentialHeaders();
    expect(headers).toEqual({ 'x-api-key': key });
    expect(token).toBe(key);
    expect(account.kind).toBe('api_key');
  });

  test('has nothing to refresh and is always ok', async () => {
    const account = createApiKeyAccount(key);
    await account.start();
    expect(await account.refreshAfterUnauthorized(key)).toBe(false);
    expect(account.status()).toBe('ok');
    await account.stop();
  });

  test('labels the account with a masked hint, never the key', () => {
    expect(createApiKeyAccount(key).label()).toBe('sk-ant-api…WXYZ');
    expect(maskApiKey('short')).toBe('…');
  });
});
