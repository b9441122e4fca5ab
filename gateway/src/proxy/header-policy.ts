import type { IncomingHttpHeaders } from 'node:http';
import { ForwardHeaders, TRACE_RESPONSE_HEADER } from '@switchyard/shared';

// Client text: a model id forwarded in a header only as a printable token (anything else would throw).
const FORWARDABLE_MODEL = /^[\x21-\x7e]{1,128}$/;

/**
 * The headers a node gets: the filtered client headers (no credentials, no hop-by-hop, no
 * `x-switchyard-*`) with the job's own headers over them, the gateway's request and key ids (informational: the tunnel is the node's only
 * door, so nothing is signed), the model it parsed, and the body's length.
 */
export function attemptHeaders(
  base: IncomingHttpHeaders,
  job: {
    requestId: string;
    keyId: string;
    method: string;
    body: { length: number };
    headers?: Readonly<Record<string, string>>;
    model?: string;
  },
): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = {
    ...base,
    ...job.headers,
    [ForwardHeaders.requestId]: job.requestId,
    [ForwardHeaders.keyId]: job.keyId,
  };
  // Client text: only a printable token goes in a header (anything else would throw, or is no model id).
  if (job.model !== undefined && FORWARDABLE_MODEL.test(job.model)) out[ForwardHeaders.model] = job.model;
  // A bodiless GET carries no content-length, as clients send it.
  if (job.body.length > 0 || (job.method !== 'GET' && job.method !== 'HEAD'))
    out['content-length'] = String(job.body.length);
  return out;
}

/**
 * A node answer worth trying another node for, when no byte has reached the client yet. Not 504: a node
 * answers it when Anthropic took the request and sent no response head within UPSTREAM_HEADERS_TIMEOUT_MS
 * (and Anthropic's own 504 means the same), so the request may be running and billed; running it on another
 * account could do it twice. The client decides whether to retry.
 */
export function isFailoverStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 504);
}

/**
 * The path as it goes on the node's request line, normalised the way http-proxy-3 builds it (WHATWG
 * URL pathname + search), so what the gateway logs and what the node gets are the same string.
 */
export function wirePath(path: string): string {
  const u = new URL(path.startsWith('//') ? `http://base.invalid${path}` : path, 'http://base.invalid');
  return u.pathname + u.search;
}

/**
 * A relayed answer's raw headers with the gateway's `traceresponse` (tracing on), in place of one the node may have
 * sent. Added to the array rather than set with setHeader: a header set before writeHead(status, rawArray) makes
 * Node merge the array into its header map, which keeps only the last of repeated fields (two set-cookie lines
 * become one, measured on Node 20).
 */
export function withTraceResponse(raw: readonly string[], traceresponse: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.toLowerCase() !== TRACE_RESPONSE_HEADER) out.push(name, raw[i + 1] as string);
  }
  out.push(TRACE_RESPONSE_HEADER, traceresponse);
  return out;
}
