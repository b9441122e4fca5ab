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
    new BodyRelay(src, res, opts, resolve).start();
  });
}

// Handled on 'close' (the node's answer broke off); an error listener keeps it from crashing us.
function ignoreError(): void {}

/** One body on its way from the node to the client: what is held back, whether the head and bytes left, how it ended. */
class BodyRelay {
  readonly #src: IncomingMessage;
  readonly #res: ServerResponse;
  readonly #opts: RelayOptions;
  readonly #translator: BodyTranslator | undefined;
  readonly #resolve: (how: RelayEnd) => void;
  readonly #hold: () => void;
  #held: Buffer | undefined;
  #wrote = false;
  #ended = false;
  #headed: boolean;

  constructor(src: IncomingMessage, res: ServerResponse, opts: RelayOptions, resolve: (how: RelayEnd) => void) {
    this.#src = src;
    this.#res = res;
    this.#opts = opts;
    this.#resolve = resolve;
    this.#headed = opts.writeHead === undefined;
    this.#hold = batchWrites(res);
    this.#translator = opts.translator;
  }

  start(): void {
    const src = this.#src;
    const res = this.#res;
    if (this.#opts.sse) setImmediate(() => this.#headAlone());
    src.on('data', this.#onData);
    src.once('end', this.#onEnd);
    src.on('error', ignoreError);
    src.once('close', this.#onClose);
    res.on('drain', this.#onDrain);
    res.on('close', this.#onClientClose);
  }

  #head(): void {
    if (this.#headed) return;
    this.#headed = true;
    try {
      this.#opts.writeHead?.();
    } catch {
      // A head Node will not send (a header value it refuses): thrown here, in an event handler, it would end
      // the process. The client's connection goes instead, as for any answer that cannot be relayed.
      this.#res.destroy();
      this.#src.destroy();
    }
  }

  #headAlone(): void {
    const res = this.#res;
    if (this.#wrote || res.writableEnded || res.destroyed) return;
    this.#head();
    res.flushHeaders();
  }

  #end(how: RelayEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#res.off('drain', this.#onDrain);
    this.#res.off('close', this.#onClientClose);
    this.#resolve(how);
  }

  #write(bytes: Buffer | string): void {
    if (!this.#wrote) {
      this.#wrote = true;
      this.#head();
      this.#opts.onFirstByte();
    }
    this.#hold();
    if (!this.#res.write(bytes)) this.#src.pause();
  }

  readonly #onDrain = (): void => {
    this.#src.resume();
  };

  readonly #onClientClose = (): void => {
    if (this.#res.writableFinished) return;
    this.#src.destroy();
    this.#end('aborted');
  };

  readonly #onData = (chunk: Buffer): void => {
    if (this.#translator !== undefined) this.#translate(this.#translator, chunk);
    else this.#pass(chunk);
    this.#opts.tap?.(chunk);
  };

  #translate(translator: BodyTranslator, chunk: Buffer): void {
    const res = this.#res;
    if (res.writableEnded) return;
    const out = translator.push(chunk);
    if (out.length > 0) this.#write(out);
    // A client whose stream the translation closed (with an error it wrote) is not kept waiting for the node.
    if (translator.closed?.() === true) {
      this.#head();
      res.end();
    }
  }

  #pass(chunk: Buffer): void {
    const held = this.#held;
    let out = held === undefined ? chunk : Buffer.concat([held, chunk]);
    this.#held = undefined;
    if (this.#opts.sse) {
      const cut = lastFrameEnd(out);
      if (cut < out.length && out.length - cut <= MAX_HELD_BYTES) {
        this.#held = out.subarray(cut);
        out = out.subarray(0, cut);
      }
    }
    if (out.length > 0) this.#write(out);
  }

  readonly #onEnd = (): void => {
    const res = this.#res;
    if (this.#held !== undefined) this.#write(this.#held);
    const last = res.writableEnded ? undefined : this.#translator?.end();
    if (last !== undefined && last.length > 0) this.#write(last);
    if (!this.#wrote) {
      this.#head();
      this.#opts.onFirstByte();
    }
    res.end();
    this.#end('complete');
  };

  readonly #onClose = (): void => {
    const res = this.#res;
    if (this.#ended || this.#src.complete) return;
    if (res.destroyed) return this.#end('aborted');
    if (res.writableEnded) return this.#end('broken');
    if (this.#translator !== undefined && (this.#opts.sse || !res.headersSent)) {
      // A translation ends in the client's format: a stream with its error event, a body read whole (nothing of
      // it sent yet) with an error answer in place of the cut one.
      const last = this.#translator.broke(BROKE_MESSAGE);
      this.#head();
      res.end(last);
    } else if (this.#opts.sse) {
      this.#head();
      res.end(sseErrorFrame('api_error', BROKE_MESSAGE, this.#opts.requestId));
    } else res.destroy();
    this.#end('broken');
  };
}
