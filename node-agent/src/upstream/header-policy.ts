import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** The beta that makes the API accept OAuth access tokens (PROTOCOL.md §2). */
export const OAUTH_BETA = 'oauth-2025-04-20';

// RFC 9110 §7.6.1 connection-specific fields, plus the legacy ones proxies still meet.
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'trailers',
  'transfer-encoding',
  'upgrade',
]);

// The client's credentials never go upstream (only the account's do); host and content-length are
// recomputed for the upstream hop; expect is a hop-level negotiation and the body is already here.
const REQUEST_DROP: ReadonlySet<string> = new Set([...HOP_BY_HOP, 'host', 'authorization', 'x-api-key', 'cookie', 'content-length', 'expect']);

// Every gateway↔node header (the signature set and anything added later under the same prefix).
const SWITCHYARD_PREFIX = 'x-switchyard-';

function addTokens(into: Set<string> | undefined, value: string | readonly string[] | undefined): Set<string> | undefined {
  if (value === undefined) return into;
  const parts = typeof value === 'string' ? [value] : value;
  let out = into;
  for (const part of parts) {
    for (const token of part.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') (out ??= new Set()).add(name);
    }
  }
  return out;
}

/**
 * The client's headers as they may go upstream: without hop-by-hop fields (and any the Connection
 * header names), host, content-length, the client's credentials and every x-switchyard-* header.
 * Everything else (user-agent, x-app, anthropic-*, x-stainless-*, session ids) passes untouched.
 * Computed once per request; {@link withCredential} adds the account's part for each attempt.
 */
export function upstreamRequestHeaders(client: IncomingHttpHeaders): OutgoingHttpHeaders {
  const named = addTokens(undefined, client.connection);
  const out: OutgoingHttpHeaders = {};
  for (const name of Object.keys(client)) {
    if (REQUEST_DROP.has(name) || name.startsWith(SWITCHYARD_PREFIX) || named?.has(name) === true) continue;
    const value = client[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * The client's betas plus `required`, in the client's order, without duplicates. Accepts several
 * header lines (an array) and comma lists with stray spaces.
 */
export function mergeBetas(client: OutgoingHttpHeaders[string], required: string): string {
  const parts = typeof client === 'string' ? [client] : Array.isArray(client) ? client : [];
  const seen = new Set<string>();
  const list: string[] = [];
  for (const part of parts) {
    for (const raw of part.split(',')) {
      const beta = raw.trim();
      if (beta === '' || seen.has(beta)) continue;
      seen.add(beta);
      list.push(beta);
    }
  }
  if (!seen.has(required)) list.push(required);
  return list.join(',');
}

/**
 * One attempt's upstream headers: the filtered client headers, the account's credential headers,
 * for OAuth the merged anthropic-beta, and the body's length.
 */
export function withCredential(
  base: OutgoingHttpHeaders,
  credential: Readonly<Record<string, string>>,
  oauth: boolean,
  method: string,
  bodyLength: number,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ...base };
  for (const name of Object.keys(credential)) out[name.toLowerCase()] = credential[name];
  if (oauth) out['anthropic-beta'] = mergeBetas(base['anthropic-beta'], OAUTH_BETA);
  // A bodiless GET carries no content-length, as clients send it.
  if (bodyLength > 0 || method !== 'GET') out['content-length'] = bodyLength;
  return out;
}

/**
 * The upstream response's raw headers (name, value, name, value, … as received, case and duplicates
 * kept) minus hop-by-hop fields; adds `request-id` only when the upstream sent none.
 */
export function downstreamResponseHeaders(raw: readonly string[], requestId: string): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === 'connection') named = addTokens(named, raw[i + 1]);
  }
  const out: string[] = [];
  let hasRequestId = false;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] ?? '';
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower) === true) continue;
    if (lower === 'request-id') hasRequestId = true;
    out.push(name, raw[i + 1] ?? '');
  }
  if (!hasRequestId) out.push('request-id', requestId);
  return out;
}
