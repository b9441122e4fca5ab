import type { AccountAuth } from './account-auth.js';

/** A hint that tells keys apart without revealing them: 'sk-ant-api…' plus the last 4 characters. */
export function maskApiKey(apiKey: string): string {
  const tail = apiKey.length > 12 ? apiKey.slice(-4) : '';
  return `${apiKey.startsWith('sk-ant-api') ? 'sk-ant-api' : ''}…${tail}`;
}

/** An API-key account (ANTHROPIC_API_KEY): sent as x-api-key, nothing to refresh, always 'ok'. */
export function createApiKeyAccount(apiKey: string): AccountAuth {
  const headers = { 'x-api-key': apiKey };
  const label = maskApiKey(apiKey);
  return {
    kind: 'api_key',
    credentialHeaders: () => Promise.resolve({ headers: { ...headers }, token: apiKey }),
    refreshAfterUnauthorized: () => Promise.resolve(false),
    status: () => 'ok',
    label: () => label,
    start: () => Promise.resolve(),
    stop: () => Promise.resolve(),
    onStatusChange: () => () => {},
  };
}
