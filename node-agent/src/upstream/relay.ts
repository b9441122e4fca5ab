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
 *
 * What Anthropic sent in one packet leaves in one write (the status line with the first bytes, the
 * last bytes with the end of the body): each loopback write costs a syscall and a wake-up of the
 * gateway. An SSE client waits for the status line, so when no body bytes came by the end of this
 * event-loop turn it is sent on its own.
 */
export function relayResponse(upRes: IncomingMessage, res: ServerResponse, requestId: string, stats: RelayStats): void {
  writeHead(res, upRes, requestId);
  const type = upRes.headers['content-type'];
  if (type !== undefined && type.startsWith('text/event-stream')) {
    setImmediate(() => {
      if (stats.bytes === 0 && !res.writableEnded && !res.destroyed) res.flushHeaders();
    });
  }
  let held = false;
  const release = (): void => {
    held = false;
    res.uncork();
  };
  // Registered before pipe(), so it runs before pipe's own write of the chunk.
  upRes.on('data', (chunk: Buffer) => {
    stats.bytes += chunk.length;
    if (held) return;
    held = true;
    res.cork();
    // Node uncorks its own cork on the next tick and emits 'end' on the one after the last 'data'.
    process.nextTick(() => process.nextTick(release));
  });
  upRes.on('error', () => res.destroy());
  upRes.once('close', () => {
    if (!upRes.complete) res.destroy();
  });
  upRes.pipe(res);
}

/** Sends an upstream response whose body was already read (a 401 that will not be replayed). */
export function writeHeldResponse(
  res: ServerResponse,
  upRes: IncomingMessage,
  body: Buffer,
  requestId: string,
  stats: RelayStats,
): void {
  writeHead(res, upRes, requestId);
  stats.bytes += body.length;
  res.end(body);
}
