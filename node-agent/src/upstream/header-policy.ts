import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

import { forwardableRequestHeaders, OAUTH_BETA, TRACE_CONTEXT_HEADERS } from '@switchyard/shared';

export { OAUTH_BETA };

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
 * The client's headers that go to Anthropic, once per request: the end-to-end ones (no hop-by-hop, credential or
 * gateway headers) less the W3C trace context. Anthropic never sees our trace ids, whether tracing is on or off
 * (docs/TRACING.md, "Across processes").
 */
export function upstreamClientHeaders(client: IncomingHttpHeaders): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = forwardableRequestHeaders(client);
  for (const name of TRACE_CONTEXT_HEADERS) if (out[name] !== undefined) delete out[name];
  return out;
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
