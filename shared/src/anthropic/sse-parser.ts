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
  const maxEventLength = options.maxEventLength ?? DEFAULT_MAX_EVENT_LENGTH;
  const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

  let started = false; // the BOM may only be skipped at the very start
  let ended = false;
  let endedMidEvent = false;
  let skipLf = false; // the last text ended with CR: a LF opening the next one belongs to it
  let line = ''; // the unfinished line carried to the next chunk
  let lineDropped = false; // the unfinished line belonged to an oversized event and was let go
  let discarding = false; // inside an oversized event: skip lines until the blank one
  let inEvent = false; // a field line was seen since the last blank line
  let eventType = '';
  let data: string | undefined;
  let eventLength = 0;
  let lastEventId = '';
  let dropped = 0;

  function dispatch(): void {
    const type = eventType;
    const body = data;
    const wasDiscarding = discarding;
    eventType = '';
    data = undefined;
    eventLength = 0;
    inEvent = false;
    discarding = false;
    // State is reset before the callback so a throwing listener leaves the parser consistent.
    if (wasDiscarding || body === undefined) return;
    const event: SseEvent = { event: type === '' ? 'message' : type, data: body };
    if (lastEventId !== '') event.id = lastEventId;
    onEvent(event);
  }

  function overflow(): void {
    dropped++;
    discarding = true;
    data = undefined;
    eventType = '';
    eventLength = 0;
    if (line !== '') lineDropped = true;
    line = '';
  }

  function processLine(text: string): void {
    if (text.length === 0) {
      dispatch();
      return;
    }
    if (discarding || text.charCodeAt(0) === COLON) return;
    inEvent = true;
    const colon = text.indexOf(':');
    let field = text;
    let value = '';
    if (colon !== -1) {
      field = text.slice(0, colon);
      const start = text.charCodeAt(colon + 1) === SPACE ? colon + 2 : colon + 1;
      value = text.slice(start);
    }
    if (field === 'data') {
      data = data === undefined ? value : `${data}\n${value}`;
      eventLength += value.length + 1;
    } else if (field === 'event') {
      eventLength += value.length - eventType.length;
      eventType = value;
    } else if (field === 'id') {
      if (!value.includes('\0')) lastEventId = value;
    }
    // `retry` and unknown fields mean nothing to an observer of a proxied stream.
    if (eventLength > maxEventLength) overflow();
  }

  function completeLine(piece: string): void {
    if (lineDropped) {
      // The line had content, so it cannot be the blank line that ends the oversized event.
      lineDropped = false;
      return;
    }
    const text = line === '' ? piece : line + piece;
    line = '';
    processLine(text);
  }

  function processText(text: string): void {
    if (text.length === 0) return;
    let pos = 0;
    if (!started) {
      started = true;
      if (text.charCodeAt(0) === BOM) pos = 1;
    }
    if (skipLf) {
      skipLf = false;
      if (text.charCodeAt(pos) === LF) pos++;
    }
    let nextLf = text.indexOf('\n', pos);
    let nextCr = text.indexOf('\r', pos);
    while (nextLf !== -1 || nextCr !== -1) {
      const isCr = nextCr !== -1 && (nextLf === -1 || nextCr < nextLf);
      const brk = isCr ? nextCr : nextLf;
      completeLine(text.slice(pos, brk));
      pos = brk + 1;
      if (isCr) {
        if (pos === text.length) skipLf = true;
        else if (text.charCodeAt(pos) === LF) pos++;
        nextCr = text.indexOf('\r', pos);
      }
      // Each index is searched again only once passed, which keeps the scan linear.
      if (nextLf !== -1 && nextLf < pos) nextLf = text.indexOf('\n', pos);
    }
    carry(text, pos);
  }

  function carry(text: string, pos: number): void {
    if (pos >= text.length) return;
    if (discarding) {
      lineDropped = true;
      return;
    }
    line += pos === 0 ? text : text.slice(pos);
    if (eventLength + line.length > maxEventLength) overflow();
  }

  function isPending(): boolean {
    return inEvent || discarding || lineDropped || line !== '';
  }

  return {
    push(chunk) {
      if (ended) return;
      processText(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
    },
    end() {
      if (ended) return;
      // A flush yields only U+FFFD for a truncated character, never a line break.
      carry(decoder.decode(), 0);
      endedMidEvent = isPending();
      ended = true;
      line = '';
      data = undefined;
    },
    pending() {
      return ended ? endedMidEvent : isPending();
    },
    droppedEvents() {
      return dropped;
    },
  };
}
