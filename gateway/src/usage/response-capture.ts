// Reads a relayed response's usage and content as it passes, without holding the client's bytes:
// SSE is parsed incrementally (only the frames accounting needs are kept), a JSON body is kept as
// bytes and parsed once after the end, off the request path.
import type { IncomingHttpHeaders } from 'node:http';
import { brotliDecompressSync, constants as zlibConstants, gunzipSync, inflateSync } from 'node:zlib';
import {
  createSseParser,
  createStreamUsageTracker,
  usageFromMessage,
  type ResponseContent,
  type SseEvent,
  type StreamEventText,
  type Usage,
} from '@switchyard/shared';
import type { ResponseObserver } from '../proxy/index.js';

/** What a response said about its cost, read after its end. */
export interface CaptureResult {
  /** Exact usage; null when the response reported none (error answers, aborts before message_start). */
  usage: Usage | null;
  stopReason: string | null;
  /** A stream that reached message_stop without an error event, or a whole JSON message. */
  endedCleanly: boolean;
  /** The response's content for the worker's estimate; null when there was none to read. */
  output: ResponseContent | null;
  /** Why the capture is incomplete, if it is: the caller logs it. */
  shortfall: 'none' | 'events_capped' | 'body_capped' | 'unreadable';
}

/** A per-request observer for the forwarder, read once after the response ended. */
export interface ResponseCapture extends ResponseObserver {
  /** Whether a node's response head reached the client (false: the gateway answered, or no one did). */
  answered(): boolean;
  /** Finishes the capture (decompression and JSON parsing happen here): call after the response ended, off the request path. */
  result(): CaptureResult;
}

export interface CaptureLimits {
  /** Most bytes of content_block event data kept from one stream. Default 4 MiB. */
  maxEventBytes?: number;
  /** Most body bytes kept from a JSON (or content-encoded) response. Default 8 MiB. */
  maxBodyBytes?: number;
}

const CONTENT_EVENTS = new Set(['content_block_start', 'content_block_delta']);
const DECODERS: Record<string, (bytes: Buffer, maxOutputLength: number) => Buffer> = {
  // A cut stream (an abort) still yields what arrived: flush instead of demanding the end marker.
  gzip: (b, max) => gunzipSync(b, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: max }),
  'x-gzip': (b, max) => gunzipSync(b, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: max }),
  deflate: (b, max) => inflateSync(b, { finishFlush: zlibConstants.Z_SYNC_FLUSH, maxOutputLength: max }),
  br: (b, max) => brotliDecompressSync(b, { finishFlush: zlibConstants.BROTLI_OPERATION_FLUSH, maxOutputLength: max }),
};

const NO_RESULT: CaptureResult = {
  usage: null,
  stopReason: null,
  endedCleanly: false,
  output: null,
  shortfall: 'none',
};

interface StreamReader {
  push(chunk: Buffer): void;
  result(): CaptureResult;
}

/** Follows a message stream: usage via the shared tracker, content_block_* frames kept raw (the worker parses them). */
function createStreamReader(maxEventBytes: number): StreamReader {
  const tracker = createStreamUsageTracker();
  const events: StreamEventText[] = [];
  let eventBytes = 0;
  let capped = false;
  const parser = createSseParser((e: SseEvent) => {
    tracker.onEvent(e);
    if (capped || !CONTENT_EVENTS.has(e.event)) return;
    eventBytes += e.data.length;
    if (eventBytes > maxEventBytes) capped = true;
    else events.push({ event: e.event, data: e.data });
  });
  return {
    push: parser.push,
    result() {
      parser.end();
      const r = tracker.result();
      return {
        usage: r.usage,
        stopReason: r.stopReason,
        endedCleanly: r.endedCleanly,
        output: events.length > 0 ? { kind: 'sse', events } : null,
        shortfall: capped ? 'events_capped' : 'none',
      };
    },
  };
}

function messageResult(body: Buffer): CaptureResult {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return { ...NO_RESULT, shortfall: 'unreadable' };
  }
  const message = usageFromMessage(json);
  if (message === null) return NO_RESULT;
  const content = (json as { content?: unknown }).content;
  return {
    usage: message.usage,
    stopReason: message.stopReason,
    endedCleanly: true,
    output: Array.isArray(content) ? { kind: 'message', content } : null,
    shortfall: 'none',
  };
}

/**
 * Creates the capture for one request. Plain SSE is parsed as it passes (its tracker decodes only
 * message_start/message_delta/error); a JSON body, or any content-encoded body, is kept as bytes up to
 * a cap and read in `result()`. The client's bytes are never touched or held.
 *
 * @example
 * const capture = createResponseCapture();
 * await forwarder.forward(req, res, { ...job, observer: capture });
 * // later, off the request path:
 * const { usage, output } = capture.result();
 */
export function createResponseCapture(limits: CaptureLimits = {}): ResponseCapture {
  return new RelayedResponseCapture(limits);
}

interface CapturedHead {
  status: number;
  sse: boolean;
  /** The body's content-encoding; undefined when it has none (or `identity`). */
  encoding: string | undefined;
}

class RelayedResponseCapture implements ResponseCapture {
  readonly #maxEventBytes: number;
  readonly #maxBodyBytes: number;
  #head: CapturedHead | undefined;
  /** Plain SSE: read as it passes. */
  #stream: StreamReader | undefined;
  /** Anything else: kept as bytes up to the cap, read in result(). */
  readonly #chunks: Buffer[] = [];
  #bodyBytes = 0;
  #bodyCapped = false;
  #done: CaptureResult | undefined;

  constructor(limits: CaptureLimits) {
    this.#maxEventBytes = limits.maxEventBytes ?? 4 * 1024 * 1024;
    this.#maxBodyBytes = limits.maxBodyBytes ?? 8 * 1024 * 1024;
  }

  onHead(status: number, headers: IncomingHttpHeaders): void {
    const encoding = headers['content-encoding']?.trim().toLowerCase();
    const sse = headers['content-type']?.startsWith('text/event-stream') === true;
    const head = { status, sse, encoding: encoding === '' || encoding === 'identity' ? undefined : encoding };
    this.#head = head;
    if (sse && head.encoding === undefined) this.#stream = createStreamReader(this.#maxEventBytes);
  }

  onChunk(chunk: Buffer): void {
    if (this.#stream !== undefined) this.#stream.push(chunk);
    else this.#keep(chunk);
  }

  answered(): boolean {
    return this.#head !== undefined;
  }

  result(): CaptureResult {
    this.#done ??= this.#finish();
    return this.#done;
  }

  #keep(chunk: Buffer): void {
    if (this.#bodyCapped) return;
    this.#bodyBytes += chunk.length;
    if (this.#bodyBytes > this.#maxBodyBytes) {
      this.#bodyCapped = true;
      this.#chunks.length = 0;
      return;
    }
    this.#chunks.push(chunk);
  }

  #finish(): CaptureResult {
    const head = this.#head;
    if (head === undefined) return NO_RESULT;
    if (this.#stream !== undefined && head.encoding === undefined) return this.#stream.result();
    if (this.#bodyCapped) return { ...NO_RESULT, shortfall: 'body_capped' };
    const body = this.#decoded(head.encoding);
    if (body === undefined) return { ...NO_RESULT, shortfall: 'unreadable' };
    if (!head.sse) return messageResult(body);
    const reader = createStreamReader(this.#maxEventBytes);
    reader.push(body);
    return reader.result();
  }

  #decoded(encoding: string | undefined): Buffer | undefined {
    const body = Buffer.concat(this.#chunks);
    if (encoding === undefined) return body;
    const decode = DECODERS[encoding];
    if (decode === undefined) return undefined;
    try {
      // Compressed text expands: the cap on kept bytes applies before decoding, this bounds the rest.
      return decode(body, this.#maxBodyBytes * 4);
    } catch {
      return undefined;
    }
  }
}
