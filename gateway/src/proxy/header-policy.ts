import type { IncomingHttpHeaders } from 'node:http';

/** One attempt's headers: the filtered client headers, the signature for that node, and the body's length. */
export function attemptHeaders(base: IncomingHttpHeaders, signature: Readonly<Record<string, string>>, method: string, bodyLength: number): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...base, ...signature };
  // A bodiless GET carries no content-length, as clients send it.
  if (bodyLength > 0 || (method !== 'GET' && method !== 'HEAD')) out['content-length'] = String(bodyLength);
  return out;
}

/** A node answer worth trying another node for, when no byte has reached the client yet. */
export function isFailoverStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

/**
 * The path as it goes on the node's request line, normalised the way http-proxy-3 builds it (WHATWG
 * URL pathname + search), so the signed path and the sent path are the same string.
 */
export function wirePath(path: string): string {
  const u = new URL(path.startsWith('//') ? `http://base.invalid${path}` : path, 'http://base.invalid');
  return u.pathname + u.search;
}
