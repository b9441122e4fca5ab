import { asRecord, stringOrNull } from './narrow.js';
import type { SseEvent } from './sse-parser.js';
import { applyUsage, emptyUsage } from './usage.js';
import type { Usage } from './usage.js';

/** The `error` of an `event: error` frame. */
export interface StreamError {
  type: string;
  message: string;
}

/** What a streamed `/v1/messages` response said about its cost and ending. */
export interface StreamUsageResult {
  /** Input and cache counts from `message_start`, overwritten by the last `message_delta`; null if neither came. */
  usage: Usage | null;
  stopReason: string | null;
  model: string | null;
  messageId: string | null;
  /** `message_stop` arrived and no error frame did. */
  endedCleanly: boolean;
  /** The error frame's `error` (the last one, if several). */
  error: StreamError | null;
  /** Every event seen, whatever its type. */
  eventCount: number;
}

/**
 * Follows a message stream's events and keeps what usage accounting needs. Members are plain
 * functions (no `this`), so `tracker.onEvent` can be handed to a parser as it is.
 */
export interface StreamUsageTracker {
  onEvent: (event: SseEvent) => void;
  result: () => StreamUsageResult;
}

function parseJson(data: string): Record<string, unknown> | undefined {
  try {
    return asRecord(JSON.parse(data));
  } catch {
    return undefined;
  }
}

/** The error frame's `error`; a frame we cannot read still counts as an error. */
function readStreamError(data: string): StreamError {
  const error = asRecord(parseJson(data)?.error);
  return { type: stringOrNull(error?.type) ?? 'unknown', message: stringOrNull(error?.message) ?? '' };
}

/**
 * Creates a tracker for one streamed response. It decodes only `message_start`, `message_delta` and
 * `error` frames, choosing by event name, so the deltas and pings that make up most of a stream cost a
 * string comparison each.
 *
 * @example
 * const tracker = createStreamUsageTracker();
 * const parser = createSseParser(tracker.onEvent);
 */
export function createStreamUsageTracker(): StreamUsageTracker {
  return new MessageStreamTracker();
}

/** The tracker behind {@link createStreamUsageTracker}; `onEvent` and `result` are arrow properties, bound once per stream. */
export class MessageStreamTracker implements StreamUsageTracker {
  #usage: Usage | null = null;
  #stopReason: string | null = null;
  #model: string | null = null;
  #messageId: string | null = null;
  #stopped = false;
  #error: StreamError | null = null;
  #eventCount = 0;

  readonly onEvent = (event: SseEvent): void => {
    this.#eventCount++;
    switch (event.event) {
      case 'message_start':
        this.#onMessageStart(event.data);
        break;
      case 'message_delta':
        this.#onMessageDelta(event.data);
        break;
      case 'message_stop':
        this.#stopped = true;
        break;
      case 'error':
        this.#error = readStreamError(event.data);
        break;
      default:
      // content_block_*, ping and unknown events carry nothing usage needs.
    }
  };

  readonly result = (): StreamUsageResult => ({
    usage: this.#usage ? { ...this.#usage } : null,
    stopReason: this.#stopReason,
    model: this.#model,
    messageId: this.#messageId,
    endedCleanly: this.#stopped && this.#error === null,
    error: this.#error,
    eventCount: this.#eventCount,
  });

  #onMessageStart(data: string): void {
    const message = asRecord(parseJson(data)?.message);
    if (!message) return;
    this.#messageId = stringOrNull(message.id) ?? this.#messageId;
    this.#model = stringOrNull(message.model) ?? this.#model;
    this.#usage ??= emptyUsage();
    applyUsage(this.#usage, message.usage);
  }

  #onMessageDelta(data: string): void {
    const body = parseJson(data);
    if (!body) return;
    this.#stopReason = stringOrNull(asRecord(body.delta)?.stop_reason) ?? this.#stopReason;
    if (asRecord(body.usage)) {
      this.#usage ??= emptyUsage();
      // Cumulative: each delta's counts replace the previous ones.
      applyUsage(this.#usage, body.usage);
    }
  }
}
