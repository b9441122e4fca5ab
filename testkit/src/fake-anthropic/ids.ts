// Identifiers shaped like Anthropic's. Credentials are random at runtime so nothing token-shaped is ever committed.
import { randomBytes } from 'node:crypto';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** A random base62 string of the given length. */
export function randomBase62(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += BASE62[byte % 62];
  return out;
}

/** `req_…`, the value of the request-id header and of error envelopes. */
export function newRequestId(): string {
  return `req_011C${randomBase62(20)}`;
}

/** `msg_…` */
export function newMessageId(): string {
  return `msg_01${randomBase62(22)}`;
}

/** `toolu_…` */
export function newToolUseId(): string {
  return `toolu_01${randomBase62(22)}`;
}

/** An OAuth access (oat) or refresh (ort) token. */
export function newOAuthToken(kind: 'oat' | 'ort'): string {
  return `sk-ant-${kind}01-${randomBytes(66).toString('base64url')}`;
}

/** A console API key. */
export function newApiKey(): string {
  return `sk-ant-api03-${randomBytes(66).toString('base64url')}`;
}

/** An OAuth authorization code. */
export function newAuthorizationCode(): string {
  return randomBytes(32).toString('base64url');
}
