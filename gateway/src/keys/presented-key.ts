import type { IncomingHttpHeaders } from 'node:http';
import { bearerToken } from '@switchyard/shared';

/**
 * The key a client presented: `x-api-key` (how Claude Code sends ANTHROPIC_API_KEY), else the token of
 * `Authorization: Bearer` (ANTHROPIC_AUTH_TOKEN). Undefined when neither is there.
 */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const apiKey = headers['x-api-key'];
  const direct = (Array.isArray(apiKey) ? apiKey[0] : apiKey)?.trim();
  if (direct) return direct;
  return bearerToken(headers.authorization);
}
