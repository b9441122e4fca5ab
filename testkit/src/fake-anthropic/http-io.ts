// Small node:http helpers: body reading, JSON and error replies, a byte-limited body writer, abortable sleep.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { anthropicErrorTypeFor, errorEnvelope, type AnthropicErrorType } from '@switchyard/shared';

/** Thrown by readBody when the body passes the limit. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`request body larger than ${limit} bytes`);
  }
}

/** Reads the whole request body, refusing more than `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        reject(new BodyTooLargeError(limit));
        req.pause();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** Writes the body, but destroys the connection once `resetAfterBytes` bytes of it went out. */
export interface BodyWriter {
  /** False once the connection is gone (client abort, reset fault, server stop). */
  write(chunk: string): boolean;
  end(): void;
  readonly open: boolean;
}

/** A BodyWriter over `res`; its headers must already be set. */
export function createBodyWriter(res: ServerResponse, resetAfterBytes?: number): BodyWriter {
  let written = 0;
  let cut = false;
  const open = () => !cut && !res.destroyed && !res.writableEnded && res.socket?.destroyed !== true;

  function reset(): void {
    cut = true;
    // Destroy only after the kernel took the bytes, so the client really sees a truncated body.
    if (res.headersSent) res.write('', () => res.socket?.destroy());
    else res.socket?.destroy();
  }

  return {
    get open() {
      return open();
    },
    write(chunk) {
      if (!open()) return false;
      if (resetAfterBytes === undefined) {
        res.write(chunk);
        return true;
      }
      const bytes = Buffer.from(chunk);
      const room = resetAfterBytes - written;
      if (bytes.length < room) {
        written += bytes.length;
        res.write(bytes);
        return true;
      }
      if (!res.headersSent) res.flushHeaders();
      if (room > 0) res.write(bytes.subarray(0, room));
      written = resetAfterBytes;
      reset();
      return false;
    },
    end() {
      if (!open()) return;
      if (resetAfterBytes !== undefined && written >= resetAfterBytes) {
        reset();
        return;
      }
      res.end();
    },
  };
}

/** Sends a JSON body; true when it was written whole. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  options: { headers?: Record<string, string>; resetAfterBytes?: number } = {},
): boolean {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...options.headers,
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
  });
  const writer = createBodyWriter(res, options.resetAfterBytes);
  const whole = writer.write(text);
  writer.end();
  return whole;
}

/** Sends an error envelope with the status's type unless one is given. */
export function sendError(
  res: ServerResponse,
  status: number,
  message: string,
  requestId: string,
  options: { type?: AnthropicErrorType; headers?: Record<string, string> } = {},
): void {
  const type = options.type ?? anthropicErrorTypeFor(status);
  sendJson(res, status, errorEnvelope(type, message, requestId), { headers: options.headers });
}

/** Resolves after `ms`, or at once when the signal aborts. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
