/**
 * Secret redaction for log records. Two rules, applied at any depth (objects, arrays, Error objects
 * and their causes):
 * - a field whose NAME says it holds a secret is masked whatever its value;
 * - a string VALUE shaped like an Anthropic credential, a gateway key or a Bearer credential is masked
 *   wherever it appears, also inside messages and stack traces.
 */

export const REDACTED = '[REDACTED]';

// Names: headers and fields that carry credentials. `tokens` (counts) must stay visible, so the token
// rule is anchored on the name ending in "token" or being a known token field.
const SECRET_NAME = new RegExp(
  [
    '^authorization$',
    '^proxy-authorization$',
    '^x-api-key$',
    '^(set-)?cookie$',
    '^access$',
    '^refresh$',
    'token$',
    'tokens?_?(value|secret)$',
    'secret',
    'passw(or)?d',
    'api[-_]?key',
    'credential',
    'private[-_]?key',
    '^x-switchyard-signature$',
    '^signature$',
    '^code_verifier$',
    '^code$',
  ].join('|'),
  'i',
);

// Values: Anthropic keys and OAuth tokens, our own gateway keys and node tokens, and Bearer credentials in free text.
const SECRET_VALUE = /sk-ant-[A-Za-z0-9_-]+|\bsyn?-[A-Za-z0-9_-]{16,}|(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/g;

/** Masks secret-shaped substrings in a string. */
export function redactString(s: string): string {
  if (!s.includes('sk-ant-') && !s.includes('sy-') && !s.includes('syn-') && !/bearer/i.test(s)) return s;
  return s.replace(SECRET_VALUE, (match, bearer: string | undefined) => (bearer ? `${bearer}${REDACTED}` : REDACTED));
}

/** Whether a field name marks its value as secret. */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name);
}

const MAX_DEPTH = 8;

// An error's `code` is mostly what went wrong (ECONNREFUSED, ERR_STREAM_PREMATURE_CLOSE, an HTTP status), which an
// OAuth authorization code (random mixed-case text) never looks like: those two shapes stay readable on an Error.
// Any other value is masked, our own lower-case codes (`budget_exhausted`, `timeout`) too: safe, if less readable.
const ERROR_CODE = /^(?:[A-Z][A-Z0-9_]{1,63}|\d{1,5})$/;

/** Whether `value` has the shape of a system or HTTP error code (`ECONNREFUSED`, `ERR_*`, `404`, 404). */
export function isErrorCode(value: unknown): boolean {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 && value < 100_000;
  return typeof value === 'string' && ERROR_CODE.test(value);
}

function redactError(err: Error, seen: WeakSet<object>, depth: number): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: redactString(err.message) };
  if (err.stack) out.stack = redactString(err.stack);
  for (const [k, v] of Object.entries(err))
    out[k] = isSecretName(k) && !(k === 'code' && isErrorCode(v)) ? REDACTED : redactValue(v, seen, depth + 1);
  if (err.cause !== undefined) out.cause = redactValue(err.cause, seen, depth + 1);
  return out;
}

/** Returns a copy of `value` with secrets masked. Cycles and very deep structures are cut, never followed. */
export function redactValue(value: unknown, seen: WeakSet<object> = new WeakSet(), depth = 0): unknown {
  if (typeof value === 'string') return redactString(value);
  if (value === null || typeof value !== 'object') return value;
  if (seen.has(value)) return '[Circular]';
  if (depth > MAX_DEPTH) return '[Truncated]';
  seen.add(value);
  if (value instanceof Error) return redactError(value, seen, depth);
  if (Buffer.isBuffer(value)) return `[Buffer ${value.length} bytes]`;
  if (Array.isArray(value)) return value.map((v) => redactValue(v, seen, depth + 1));
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Map) return redactValue(Object.fromEntries(value), seen, depth + 1);
  if (value instanceof URL) return redactString(value.toString());
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = isSecretName(k) && v != null && v !== '' ? REDACTED : redactValue(v, seen, depth + 1);
  return out;
}

/**
 * A URL without its credentials, for a startup log line (Redis URLs carry their password).
 * @example redactedUrl('redis://:pw@redis:6379/0') // 'redis://redis:6379/0'
 */
export function redactedUrl(raw: string): string {
  const u = new URL(raw);
  u.password = '';
  u.username = '';
  return u.toString();
}
