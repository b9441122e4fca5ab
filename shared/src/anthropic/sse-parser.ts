/** One dispatched server-sent event. */
export interface SseEvent {
  /** The `event:` field, or `'message'` when the event had none. */
  event: string;
  /** Every `data:` line of the event, joined by `'\n'`. */
  data: string;
  /** The last event ID seen on the stream (it persists across events, as the spec says); absent when empty. */
  id?: string;
}

/** Tuning for {@link createSseParser}. */
export interface SseParserOptions {
  /**
   * Most UTF-16 code units one event (its fields plus the unfinished line) may hold. A bigger event is
   * dropped whole and counted in `droppedEvents()`, so a stream without blank lines cannot grow memory
   * without bound. Default {@link DEFAULT_MAX_EVENT_LENGTH}.
   */
  maxEventLength?: number;
}

/**
 * An incremental event-stream parser: feed it chunks as they pass, it calls back once per complete
 * event. Members are plain functions (no `this`), so `parser.push` can be passed as a listener.
 */
export interface SseParser {
  /** Parses a chunk; it may split anywhere, even inside a UTF-8 character or a CRLF pair. Ignored after `end()`. */
  push: (chunk: Buffer | Uint8Array | string) => void;
  /** Ends the stream. A half-received event is discarded, never dispatched: ask `pending()` whether there was one. */
  end: () => void;
  /** True while (or, after `end()`, if) the stream sits inside an event or an unfinished line. */
  pending: () => boolean;
  /** How many events were dropped for exceeding `maxEventLength`. */
  droppedEvents: () => number;
}

/** 16 Mi code units: far above any real Anthropic event, low enough to bound a runaway stream. */
export const DEFAULT_MAX_EVENT_LENGTH = 16 * 1024 * 1024;

const LF = 0x0a;
const COLON = 0x3a;
const SPACE = 0x20;
const BOM = 0xfeff;

/**
 * Creates a WHATWG event-stream parser. It keeps only the current event's fields and the unfinished
 * line between chunks, so it can watch a proxied stream without buffering it.
 *
 * @example
 * const parser = createSseParser((e) => tracker.onEvent(e));
 * upstream.on('data', (chunk: Buffer) => parser.push(chunk));
 * upstream.on('end', () => parser.end());
 */
export function createSseParser(onEvent: (event: SseEvent) => void, options: SseParserOptions = {}): SseParser {
  return new EventStreamParser(onEvent, options);
}

/**
 * The parser behind {@link createSseParser}. Its public members are arrow properties, bound once per stream, so
 * they can be handed over as they are; each chunk then runs through private methods without allocating closures.
 */
export class EventStreamParser implements SseParser {
  readonly #onEvent: (event: SseEvent) => void;
  readonly #maxEventLength: number;
  readonly #decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  #started = false; // the BOM may only be skipped at the very start
  #ended = false;
  #endedMidEvent = false;
  #skipLf = false; // the last text ended with CR: a LF opening the next one belongs to it
  #line = ''; // the unfinished line carried to the next chunk
  #lineDropped = false; // the unfinished line belonged to an oversized event and was let go
  #discarding = false; // inside an oversized event: skip lines until the blank one
  #inEvent = false; // a field line was seen since the last blank line
  #eventType = '';
  #data: string | undefined;
  #eventLength = 0;
  #lastEventId = '';
  #dropped = 0;

  constructor(onEvent: (event: SseEvent) => void, options: SseParserOptions = {}) {
    this.#onEvent = onEvent;
    this.#maxEventLength = options.maxEventLength ?? DEFAULT_MAX_EVENT_LENGTH;
  }

  readonly push = (chunk: Buffer | Uint8Array | string): void => {
    if (this.#ended) return;
    this.#processText(typeof chunk === 'string' ? chunk : this.#decoder.decode(chunk, { stream: true }));
  };

  readonly end = (): void => {
    if (this.#ended) return;
    // A flush yields only U+FFFD for a truncated character, never a line break.
    this.#carry(this.#decoder.decode(), 0);
    this.#endedMidEvent = this.#isPending();
    this.#ended = true;
    this.#line = '';
    this.#data = undefined;
  };

  readonly pending = (): boolean => (this.#ended ? this.#endedMidEvent : this.#isPending());

  readonly droppedEvents = (): number => this.#dropped;

  /** Splits text into lines (LF, CR or CRLF, a pair possibly cut between chunks) and carries the unfinished one. */
  #processText(text: string): void {
    if (text.length === 0) return;
    let pos = 0;
    if (!this.#started) {
      this.#started = true;
      if (text.charCodeAt(0) === BOM) pos = 1;
    }
    if (this.#skipLf) {
      this.#skipLf = false;
      if (text.charCodeAt(pos) === LF) pos++;
    }
    let nextLf = text.indexOf('\n', pos);
    let nextCr = text.indexOf('\r', pos);
    while (nextLf !== -1 || nextCr !== -1) {
      const isCr = nextCr !== -1 && (nextLf === -1 || nextCr < nextLf);
      const brk = isCr ? nextCr : nextLf;
      this.#completeLine(text.slice(pos, brk));
      pos = brk + 1;
      if (isCr) {
        if (pos === text.length) this.#skipLf = true;
        else if (text.charCodeAt(pos) === LF) pos++;
        nextCr = text.indexOf('\r', pos);
      }
      // Each index is searched again only once passed, which keeps the scan linear.
      if (nextLf !== -1 && nextLf < pos) nextLf = text.indexOf('\n', pos);
    }
    this.#carry(text, pos);
  }

  #completeLine(piece: string): void {
    if (this.#lineDropped) {
      // The line had content, so it cannot be the blank line that ends the oversized event.
      this.#lineDropped = false;
      return;
    }
    const text = this.#line === '' ? piece : this.#line + piece;
    this.#line = '';
    this.#processLine(text);
  }

  #carry(text: string, pos: number): void {
    if (pos >= text.length) return;
    if (this.#discarding) {
      this.#lineDropped = true;
      return;
    }
    this.#line += pos === 0 ? text : text.slice(pos);
    if (this.#eventLength + this.#line.length > this.#maxEventLength) this.#overflow();
  }

  /** One line: a blank one dispatches, a comment is skipped, a field adds to the event. */
  #processLine(text: string): void {
    if (text.length === 0) {
      this.#dispatch();
      return;
    }
    if (this.#discarding || text.charCodeAt(0) === COLON) return;
    this.#inEvent = true;
    const colon = text.indexOf(':');
    let field = text;
    let value = '';
    if (colon !== -1) {
      field = text.slice(0, colon);
      const start = text.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1;
      value = text.slice(start);
    }
    if (field === 'data') {
      this.#data = this.#data === undefined ? value : `${this.#data}\n${value}`;
      this.#eventLength += value.length + 1;
    } else if (field === 'event') {
      this.#eventLength += value.length - this.#eventType.length;
      this.#eventType = value;
    } else if (field === 'id') {
      if (!value.includes('\0')) this.#lastEventId = value;
    }
    // `retry` and unknown fields mean nothing to an observer of a proxied stream.
    if (this.#eventLength > this.#maxEventLength) this.#overflow();
  }

  #dispatch(): void {
    const type = this.#eventType;
    const body = this.#data;
    const wasDiscarding = this.#discarding;
    this.#eventType = '';
    this.#data = undefined;
    this.#eventLength = 0;
    this.#inEvent = false;
    this.#discarding = false;
    // State is reset before the callback so a throwing listener leaves the parser consistent.
    if (wasDiscarding || body === undefined) return;
    const event: SseEvent = { event: type === '' ? 'message' : type, data: body };
    if (this.#lastEventId !== '') event.id = this.#lastEventId;
    this.#onEvent(event);
  }

  #overflow(): void {
    this.#dropped++;
    this.#discarding = true;
    this.#data = undefined;
    this.#eventType = '';
    this.#eventLength = 0;
    if (this.#line !== '') this.#lineDropped = true;
    this.#line = '';
  }

  #isPending(): boolean {
    return this.#inEvent || this.#discarding || this.#lineDropped || this.#line !== '';
  }
}
