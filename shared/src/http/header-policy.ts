import type { IncomingHttpHeaders } from 'node:http';

/**
 * The header rules both hops share (client → gateway → node → Anthropic): what may be forwarded and
 * what never leaves a hop. Each app adds its own part (the gateway its signature, the node the
 * account's credential).
 */

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

// What a client (or a proxy in front of the gateway) says about the client's network: its address, the
// proxies it passed, the host and scheme it used. Anthropic sees the node's egress and nothing else, so none
// of it travels on (RFC 7239 `forwarded`, the de-facto `x-forwarded-*` family, and the common variants).
const CLIENT_NETWORK: readonly string[] = [
  'forwarded',
  'via',
  'x-forwarded',
  'x-original-forwarded-for',
  'x-real-ip',
  'x-client-ip',
  'client-ip',
  'x-originating-ip',
  'x-cluster-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'fastly-client-ip',
];
const CLIENT_NETWORK_PREFIX = 'x-forwarded-';

// The client's credentials and cookies never travel on; host and content-length are set for the next
// hop; expect is a hop-level negotiation and the body has already been read.
const REQUEST_DROP: ReadonlySet<string> = new Set([
  ...HOP_BY_HOP,
  ...CLIENT_NETWORK,
  'host',
  'authorization',
  'x-api-key',
  'cookie',
  'content-length',
  'expect',
]);

// The gateway↔node signature set and anything later added under the same prefix: a client can never forge them.
const SWITCHYARD_PREFIX = 'x-switchyard-';

function connectionNamed(
  into: Set<string> | undefined,
  value: string | readonly string[] | undefined,
): Set<string> | undefined {
  if (value === undefined) return into;
  let out = into;
  for (const part of typeof value === 'string' ? [value] : value) {
    for (const token of part.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '') (out ??= new Set()).add(name);
    }
  }
  return out;
}

/**
 * A request's headers as they may go to the next hop: without hop-by-hop fields (and those the
 * Connection header names), host, content-length, expect, authorization, x-api-key, cookie, every
 * x-switchyard-* header and every header about the client's network (x-forwarded-*, forwarded, via,
 * x-real-ip and kin). Everything else (anthropic-*, user-agent, x-app, x-stainless-*, session ids)
 * passes untouched.
 */
export function forwardableRequestHeaders(client: IncomingHttpHeaders): IncomingHttpHeaders {
  const named = connectionNamed(undefined, client.connection);
  const out: IncomingHttpHeaders = {};
  for (const name of Object.keys(client)) {
    if (
      REQUEST_DROP.has(name) ||
      name.startsWith(SWITCHYARD_PREFIX) ||
      name.startsWith(CLIENT_NETWORK_PREFIX) ||
      named?.has(name) === true
    )
      continue;
    const value = client[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * A response's raw headers (name, value, … as received, case and duplicates kept) minus hop-by-hop
 * fields; adds `request-id` only when the response carries none.
 */
export function forwardableResponseHeaders(raw: readonly string[], requestId: string): string[] {
  let named: Set<string> | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (raw[i]?.toLowerCase() === 'connection') named = connectionNamed(named, raw[i + 1]);
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
