import type { IncomingMessage, ServerResponse } from 'node:http';
import { forwardableResponseHeaders } from '@switchyard/shared';

/** Counts what reached the client. */
export interface RelayStats {
  bytes: number;
}

/** Reads a whole upstream body (a 401 held back while deciding on a replay); rejects if the upstream breaks off. */
export function collectBody(upRes: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    upRes.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.length;
    });
    upRes.once('end', () => resolve(Buffer.concat(chunks, size)));
    upRes.once('error', reject);
    upRes.once('close', () => {
      if (!upRes.complete) reject(new Error('upstream response closed before its end'));
    });
  });
}

function writeHead(res: ServerResponse, upRes: IncomingMessage, requestId: string): void {
  res.writeHead(upRes.statusCode ?? 502, upRes.statusMessage, forwardableResponseHeaders(upRes.rawHeaders, requestId));
}

/**
 * Pipes an upstream response to the client as received: status, headers (minus hop-by-hop), body
 * bytes unbuffered. An upstream that breaks off mid-body breaks the client connection too, so a
 * truncated stream is never mistaken for a finished one.
 */
export function relayResponse(upRes: IncomingMessage, res: ServerResponse, requestId: string, stats: RelayStats): void {
  writeHead(res, upRes, requestId);
  // SSE clients wait for the status line; everything else may share a packet with its first bytes.
  const type = upRes.headers['content-type'];
  if (type !== undefined && type.startsWith('text/event-stream')) res.flushHeaders();
  upRes.on('data', (chunk: Buffer) => {
    stats.bytes += chunk.length;
  });
  upRes.on('error', () => res.destroy());
  upRes.once('close', () => {
    if (!upRes.complete) res.destroy();
  });
  upRes.pipe(res);
}

/** Sends an upstream response whose body was already read (a 401 that will not be replayed). */
export function writeHeldResponse(res: ServerResponse, upRes: IncomingMessage, body: Buffer, requestId: string, stats: RelayStats): void {
  writeHead(res, upRes, requestId);
  stats.bytes += body.length;
  res.end(body);
}
