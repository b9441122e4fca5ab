// One call to Anthropic as a CLIENT span (docs/TRACING.md, `chat <model>`): from the request going out to the end
// of the body relayed, with the response head as its `first_byte` event and, in a stream, the first text delta as
// `first_text_delta`. Made only while tracing is on (request-spans.ts).
import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { HttpAttr, SpanStatusCode, SwitchyardAttr, type Span } from '@switchyard/shared';

// What the first text delta of a stream carries: `"delta":{"type":"text_delta","text":…}`. Inside a JSON string
// (the text itself, a tool's partial JSON) the quotes are escaped, so the bytes below only match the delta's type.
const TEXT_DELTA = Buffer.from('"text_delta"');
const OVERLAP = TEXT_DELTA.length - 1;

/** A body the upstream stopped sending before its end, while the client was still there. */
export const INCOMPLETE_RESPONSE = 'incomplete_response';

const ms = (value: number): number => Math.round(value * 100) / 100;

/** The span of one attempt; every path through app.ts's steps 6 to 8 ends it once. */
export class UpstreamCallSpan {
  readonly #span: Span;
  readonly #startedAt = performance.now();
  #ended = false;
  #upRes: IncomingMessage | undefined;
  /** The last bytes of the previous chunk: the marker may straddle two. */
  #tail: Buffer | undefined;

  constructor(span: Span) {
    this.#span = span;
  }

  /**
   * The response head arrived: its status, the `first_byte` event and switchyard.ttfb_ms. A 4xx or 5xx is an error,
   * as the HTTP conventions have it for a client span (the gateway's tunnel hop does the same; server spans leave
   * a 4xx unset).
   */
  answered(upRes: IncomingMessage): void {
    const status = upRes.statusCode ?? 0;
    this.#span.setAttribute(HttpAttr.status, status);
    this.#span.setAttribute(SwitchyardAttr.ttfbMs, ms(performance.now() - this.#startedAt));
    this.#span.addEvent('first_byte');
    if (status >= 400) this.#fail(String(status));
  }

  /** No response (or no whole body) came: `code` is what the node answered, e.g. upstream_timeout. Ends the span. */
  failed(code: string): void {
    this.#fail(code);
    this.end();
  }

  /**
   * The body is relayed: the span ends when it is over. A stream is scanned for its first text delta, chunk by
   * chunk as it passes, until found; the text is never read.
   */
  relayed(upRes: IncomingMessage, client: { readonly gone: boolean }): void {
    const type = upRes.headers['content-type'];
    if (type !== undefined && type.startsWith('text/event-stream')) {
      this.#upRes = upRes;
      upRes.on('data', this.#scan);
    }
    upRes.once('close', () => {
      if (!upRes.complete && !client.gone) this.#fail(INCOMPLETE_RESPONSE);
      this.end();
    });
  }

  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#span.end();
  }

  #fail(errorType: string): void {
    this.#span.setAttribute(HttpAttr.errorType, errorType);
    this.#span.setStatus({ code: SpanStatusCode.ERROR });
  }

  readonly #scan = (chunk: Buffer): void => {
    if (!this.#holdsTextDelta(chunk)) {
      this.#tail =
        chunk.length >= OVERLAP
          ? Buffer.from(chunk.subarray(chunk.length - OVERLAP))
          : Buffer.concat([this.#tail ?? Buffer.alloc(0), chunk]).subarray(-OVERLAP);
      return;
    }
    this.#upRes?.off('data', this.#scan);
    this.#tail = undefined;
    this.#span.setAttribute(SwitchyardAttr.firstTextDeltaMs, ms(performance.now() - this.#startedAt));
    this.#span.addEvent('first_text_delta');
  };

  #holdsTextDelta(chunk: Buffer): boolean {
    if (chunk.indexOf(TEXT_DELTA) !== -1) return true;
    if (this.#tail === undefined) return false;
    return Buffer.concat([this.#tail, chunk.subarray(0, OVERLAP)]).indexOf(TEXT_DELTA) !== -1;
  }
}
