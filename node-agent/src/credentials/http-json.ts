import http from 'node:http';
import https from 'node:https';
import type { Egress } from '../upstream/egress.js';

/** A JSON exchange's answer: the status, headers and the parsed body (undefined when not JSON). */
export interface JsonResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: unknown;
}

/** Why no answer arrived: the deadline passed, or the connection failed. */
export class HttpCallError extends Error {
  override readonly name = 'HttpCallError';
  constructor(
    readonly code: 'timeout' | 'network',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** One JSON request over the node's egress. */
export interface JsonRequest {
  method: 'GET' | 'POST';
  url: URL;
  headers?: Record<string, string>;
  body?: unknown;
  timeoutMs: number;
}

// Token responses are a few hundred bytes; anything far larger is not one.
const MAX_RESPONSE_BYTES = 1024 * 1024;

function parseJson(buf: Buffer): unknown {
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Sends one request through `egress` (so EGRESS_LOCAL_ADDRESS and EGRESS_PROXY_URL apply) and reads a JSON answer.
 * The deadline covers connecting, sending and reading the whole body.
 * @throws HttpCallError('timeout' | 'network') when no complete answer arrived.
 */
export function requestJson(egress: Egress, req: JsonRequest): Promise<JsonResponse> {
  const payload = req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body));
  const headers: Record<string, string> = { accept: 'application/json', ...req.headers };
  if (payload) {
    headers['content-type'] = 'application/json';
    headers['content-length'] = String(payload.length);
  }
  const transport = req.url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const outgoing = transport.request(req.url, { method: req.method, headers, agent: egress.agentFor(req.url) });
    const timer = setTimeout(
      () => outgoing.destroy(new HttpCallError('timeout', `no answer within ${req.timeoutMs} ms`)),
      req.timeoutMs,
    );
    const fail = (err: Error) => {
      clearTimeout(timer);
      reject(err instanceof HttpCallError ? err : new HttpCallError('network', 'request failed', { cause: err }));
    };
    outgoing.on('error', fail);
    outgoing.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) outgoing.destroy(new HttpCallError('network', 'response too large'));
        else chunks.push(chunk);
      });
      res.on('error', fail);
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parseJson(Buffer.concat(chunks)) });
      });
    });
    outgoing.end(payload);
  });
}
