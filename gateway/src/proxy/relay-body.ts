import type { IncomingMessage, ServerResponse } from 'node:http';
import { sseErrorFrame } from '@switchyard/shared';
import type { BodyTranslator } from '../openai/types.js';

/** How a relayed body ended. */
export type RelayEnd = 'complete' | 'broken' | 'aborted';

export interface RelayOptions {
  /**
   * The body is an SSE stream: frame-aligned writes, a terminal error event on a break, and the status
   * line sent on its own if no body bytes follow at once (see relayBody).
   */
  sse: boolean;
  requestId: string;
  /** Called once, when the first body bytes are written to the client. */
  onFirstByte(): void;
  /**
   * Sets the response head, called once before the first bytes (or the end) leave. Absent: the head was set
   * before the call (a translation read whole decides its status only at its end).
   */
  writeHead?: () => void;
  /** Sees every chunk as it arrives from the node, once it was handed to the client. */
  tap?: (chunk: Buffer) => void;
  /**
   * The client gets this translation of the node's body instead of its bytes (it frames its own output, so
   * nothing is held here); the tap still sees the node's bytes.
   */
  translator?: BodyTranslator;
}

const LF_LF = Buffer.from('\n\n');
const CRLF_CRLF = Buffer.from('\r\n\r\n');
// Past this, a partial frame is written anyway: a stream that never ends its frames must not stall.
const MAX_HELD_BYTES = 256 * 1024;
const BROKE_MESSAGE = 'The stream from the upstream node broke off before its end';

/** Where the last complete SSE frame in `buf` ends (0 when none does). */
export function lastFrameEnd(buf: Buffer): number {
  const n = buf.length;
  if (n >= 2 && buf[n - 1] === 0x0a && (buf[n - 2] === 0x0a || (n >= 4 && buf[n - 2] === 0x0d && buf[n - 3] === 0x0a)))
    return n;
  const lf = buf.lastIndexOf(LF_LF);
  const crlf = buf.lastIndexOf(CRLF_CRLF);
  return Math.max(lf < 0 ? 0 : lf + 2, crlf < 0 ? 0 : crlf + 4);
}

/**
 * Holds `res`'s writes until the ticks that follow the current one ran, so what the node sent in one
 * packet leaves in one write: a chunk, the next one, and the end of the body (whose 'end' event comes
 * a tick after the last 'data'). Each loopback write costs a syscall and a wake-up of the reader (~50 µs
 * of this process's CPU per write, measured); nothing waits for I/O, so no latency is added.
 */
export function batchWrites(res: ServerResponse): () => void {
  let held = false;
  const release = (): void => {
    held = false;
    res.uncork();
  };
  return function hold(): void {
    if (held) return;
    held = true;
    res.cork();
    // Node uncorks its own cork on the next tick and emits 'end' on the one after the last 'data'.
    process.nextTick(() => process.nextTick(release));
  };
}

/**
 * Relays a node's response body to the client as it arrives, with backpressure.
 *
 * SSE bodies are written frame-aligned: bytes after the last complete frame of a chunk wait for the
 * rest of their frame (the client could not act on half a frame anyway, so no latency is added).
 * That is what lets a break end the client's stream cleanly: a torn frame is dropped and a terminal
 * `event: error` follows the last whole frame, never a silent truncation. Other bodies pass as they
 * come and a break destroys the client connection, so a cut body is never taken for a whole one.
 * A client that hangs up destroys the node response (and with it the node's socket) at once.
 *
 * The status line (already set with writeHead) leaves with the first body bytes. An SSE client waits
 * for it, so when no body bytes came by the end of this event-loop turn it is sent on its own.
 */
export function relayBody(src: IncomingMessage, res: ServerResponse, opts: RelayOptions): Promise<RelayEnd> {
  return new Promise((resolve) => {
    let held: Buffer | undefined;
    let wrote = false;
    let ended = false;
    let headed = opts.writeHead === undefined;
    const head = (): void => {
      if (headed) return;
      headed = true;
      try {
        opts.writeHead?.();
      } catch {
        // A head Node will not send (a header value it refuses): thrown here, in an event handler, it would end
        // the process. The client's connection goes instead, as for any answer that cannot be relayed.
        res.destroy();
        src.destroy();
      }
    };
    const hold = batchWrites(res);
    if (opts.sse) {
      setImmediate(() => {
        if (wrote || res.writableEnded || res.destroyed) return;
        head();
        res.flushHeaders();
      });
    }
    const end = (how: RelayEnd): void => {
      if (ended) return;
      ended = true;
      res.off('drain', onDrain);
      res.off('close', onClientClose);
      resolve(how);
    };
    const write = (bytes: Buffer | string): void => {
      if (!wrote) {
        wrote = true;
        head();
        opts.onFirstByte();
      }
      hold();
      if (!res.write(bytes)) src.pause();
    };
    const onDrain = (): void => {
      src.resume();
    };
    const onClientClose = (): void => {
      if (res.writableFinished) return;
      src.destroy();
      end('aborted');
    };
    const translator = opts.translator;
    src.on('data', (chunk: Buffer) => {
      if (translator !== undefined) {
        if (!res.writableEnded) {
          const out = translator.push(chunk);
          if (out.length > 0) write(out);
          // A client whose stream the translation closed (with an error it wrote) is not kept waiting for the node.
          if (translator.closed?.() === true) {
            head();
            res.end();
          }
        }
        opts.tap?.(chunk);
        return;
      }
      let out = held === undefined ? chunk : Buffer.concat([held, chunk]);
      held = undefined;
      if (opts.sse) {
        const cut = lastFrameEnd(out);
        if (cut < out.length && out.length - cut <= MAX_HELD_BYTES) {
          held = out.subarray(cut);
          out = out.subarray(0, cut);
        }
      }
      if (out.length > 0) write(out);
      opts.tap?.(chunk);
    });
    src.once('end', () => {
      if (held !== undefined) write(held);
      const last = res.writableEnded ? undefined : translator?.end();
      if (last !== undefined && last.length > 0) write(last);
      if (!wrote) {
        head();
        opts.onFirstByte();
      }
      res.end();
      end('complete');
    });
    src.on('error', () => {
      // Handled on 'close' (the node's answer broke off); an error listener keeps it from crashing us.
    });
    src.once('close', () => {
      if (ended || src.complete) return;
      if (res.destroyed) return end('aborted');
      if (res.writableEnded) return end('broken');
      if (translator !== undefined && (opts.sse || !res.headersSent)) {
        // A translation ends in the client's format: a stream with its error event, a body read whole (nothing of
        // it sent yet) with an error answer in place of the cut one.
        const last = translator.broke(BROKE_MESSAGE);
        head();
        res.end(last);
      } else if (opts.sse) {
        head();
        res.end(sseErrorFrame('api_error', BROKE_MESSAGE, opts.requestId));
      } else res.destroy();
      end('broken');
    });
    res.on('drain', onDrain);
    res.on('close', onClientClose);
  });
}
