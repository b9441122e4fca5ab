// A node's Messages stream as a Chat Completions stream, event by event: docs/OPENAI.md ("Streaming") is the table.
// Also the finish-reason and usage mappings the JSON answer shares (chat-response.ts imports them from here, so the
// two modules import in one direction).
import {
  applyUsage,
  asRecord,
  createSseParser,
  emptyUsage,
  type SseEvent,
  type SseParser,
  type Usage,
} from '@switchyard/shared';
import {
  openAiEnvelopeFromAnthropic,
  openAiStreamErrorFrame,
  parseJsonRecord,
  readAnthropicError,
  serverErrorEnvelope,
  statusForAnthropicType,
  type OpenAiErrorEnvelope,
} from './openai-errors.js';
import type { BodyTranslator, ChatResponseContext } from './types.js';

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter';

/** `stop_reason` → `finish_reason` (docs/OPENAI.md, "Response"); null while the message has none. */
export function finishReasonFor(stopReason: string | null): FinishReason | null {
  switch (stopReason) {
    case null:
      return null;
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      // end_turn, stop_sequence, pause_turn, and whatever reason Anthropic adds later: the turn ended normally.
      return 'stop';
  }
}

export interface ChatUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

/** Anthropic's counts as OpenAI's: OpenAI's prompt includes the cached part, Anthropic's `input_tokens` does not. */
export function openAiUsage(usage: Usage): ChatUsage {
  const prompt = usage.inputTokens + usage.cacheCreationInputTokens + usage.cacheReadInputTokens;
  return {
    prompt_tokens: prompt,
    completion_tokens: usage.outputTokens,
    total_tokens: prompt + usage.outputTokens,
    prompt_tokens_details: { cached_tokens: usage.cacheReadInputTokens },
  };
}

const DONE = 'data: [DONE]\n\n';
// The code a stream that breaks off gets, as on /v1/messages (relay-body.ts ends such a stream with an api_error).
const BROKEN_CODE = 'api_error';
const ENDED_EARLY = 'The stream from the upstream node ended without its message_stop event';
const UNREADABLE = 'The upstream node sent a stream event the gateway could not read';

/** Everything of a chunk before its `choices`: the same for the whole stream, so it is serialised once. */
function chunkPrefix(id: string, model: string, created: number): string {
  return `data: {"id":${JSON.stringify(id)},"object":"chat.completion.chunk","created":${created},"model":${JSON.stringify(model)},"choices":`;
}

interface ToolCallState {
  /** The tool call's index among the answer's tool calls (OpenAI's `index`). */
  index: number;
  /** Some non-empty `partial_json` was sent. */
  hasArguments: boolean;
}

/**
 * One node stream's translator. Chunks are written as JSON text around the delta (no object per chunk), and each
 * event is parsed once, only when its type needs its fields.
 */
class ChatStreamTranslator implements BodyTranslator {
  readonly contentType = 'text/event-stream; charset=utf-8';
  readonly sse = true;
  private readonly parser: SseParser;
  private readonly usage = emptyUsage();
  /** Tool calls by the Anthropic content block index they came in. */
  private readonly tools = new Map<number, ToolCallState>();
  private prefix: string;
  private out = '';
  /** [DONE] or an error frame was written: nothing may follow. */
  private finished = false;
  /** A chunk with a finish_reason was written. */
  private finishSent = false;

  constructor(private readonly ctx: ChatResponseContext) {
    // Replaced at message_start; only a stream that breaks before it is seen sends chunks under this one.
    this.prefix = chunkPrefix(`chatcmpl-${ctx.requestId}`, '', ctx.created);
    this.parser = createSseParser((event) => this.onEvent(event));
  }

  push(chunk: Buffer): string {
    if (this.finished) return '';
    try {
      this.parser.push(chunk);
    } catch {
      // Nothing here is expected to throw; should it, the client gets an error frame rather than a hung stream.
      this.fail(serverErrorEnvelope(UNREADABLE, BROKEN_CODE));
    }
    return this.take();
  }

  /** The client's stream is whole (`[DONE]`) or ended with an error: nothing more of the node's is relayed. */
  closed(): boolean {
    return this.finished;
  }

  end(): string {
    if (this.finished) return '';
    // A half-received event is dropped (parser.end), and a stream without message_stop is not a whole answer.
    this.parser.end();
    this.fail(serverErrorEnvelope(ENDED_EARLY, BROKEN_CODE));
    return this.take();
  }

  broke(message: string): string {
    if (this.finished) return '';
    this.parser.end();
    this.fail(serverErrorEnvelope(message, BROKEN_CODE));
    return this.take();
  }

  private take(): string {
    const out = this.out;
    this.out = '';
    return out;
  }

  private emit(delta: string, finishReason: FinishReason | null): void {
    const finish = finishReason === null ? 'null' : `"${finishReason}"`;
    this.out += `${this.prefix}[{"index":0,"delta":${delta},"finish_reason":${finish}}]}\n\n`;
  }

  private fail(envelope: OpenAiErrorEnvelope): void {
    this.out += openAiStreamErrorFrame(envelope);
    this.finished = true;
  }

  /** The event's data as an object; an unreadable one ends the stream with an error (never a silent gap). */
  private read(data: string): Record<string, unknown> | undefined {
    const body = parseJsonRecord(data);
    if (!body) this.fail(serverErrorEnvelope(UNREADABLE, BROKEN_CODE));
    return body;
  }

  private onEvent(event: SseEvent): void {
    if (this.finished) return;
    // Deltas first: they are nearly every event of a stream.
    switch (event.event) {
      case 'content_block_delta':
        return this.onBlockDelta(event.data);
      case 'content_block_start':
        return this.onBlockStart(event.data);
      case 'content_block_stop':
        return this.onBlockStop(event.data);
      case 'message_start':
        return this.onMessageStart(event.data);
      case 'message_delta':
        return this.onMessageDelta(event.data);
      case 'message_stop':
        return this.onMessageStop();
      case 'error':
        return this.onError(event.data);
      default:
      // ping and event types Anthropic may add: no chunk.
    }
  }

  private onMessageStart(data: string): void {
    const message = asRecord(this.read(data)?.message);
    if (!message) {
      if (!this.finished) this.fail(serverErrorEnvelope(UNREADABLE, BROKEN_CODE));
      return;
    }
    const id = typeof message.id === 'string' ? message.id : `chatcmpl-${this.ctx.requestId}`;
    const model = typeof message.model === 'string' ? message.model : '';
    this.prefix = chunkPrefix(id, model, this.ctx.created);
    applyUsage(this.usage, message.usage);
    this.emit('{"role":"assistant","content":""}', null);
  }

  private onBlockStart(data: string): void {
    const body = this.read(data);
    const block = asRecord(body?.content_block);
    // Text and thinking blocks start empty (their text comes in deltas); other blocks have no chunk.
    if (!body || block?.type !== 'tool_use' || typeof body.index !== 'number') return;
    const tool: ToolCallState = { index: this.tools.size, hasArguments: false };
    this.tools.set(body.index, tool);
    const id = JSON.stringify(typeof block.id === 'string' ? block.id : '');
    const name = JSON.stringify(typeof block.name === 'string' ? block.name : '');
    this.emit(
      `{"tool_calls":[{"index":${tool.index},"id":${id},"type":"function","function":{"name":${name},"arguments":""}}]}`,
      null,
    );
  }

  private onBlockDelta(data: string): void {
    const body = this.read(data);
    const delta = asRecord(body?.delta);
    switch (delta?.type) {
      case 'text_delta':
        return this.emitText('content', delta.text);
      case 'thinking_delta':
        return this.emitText('reasoning_content', delta.thinking);
      case 'input_json_delta':
        return this.onToolArguments(body?.index, delta.partial_json);
      default:
      // signature_delta, citations_delta and deltas Anthropic may add: no chunk.
    }
  }

  private emitText(field: 'content' | 'reasoning_content', text: unknown): void {
    if (typeof text !== 'string' || text === '') return;
    this.emit(`{"${field}":${JSON.stringify(text)}}`, null);
  }

  private onToolArguments(blockIndex: unknown, partial: unknown): void {
    const tool = typeof blockIndex === 'number' ? this.tools.get(blockIndex) : undefined;
    if (!tool || typeof partial !== 'string' || partial === '') return;
    tool.hasArguments = true;
    this.emit(`{"tool_calls":[{"index":${tool.index},"function":{"arguments":${JSON.stringify(partial)}}}]}`, null);
  }

  /**
   * A tool without input streams no (or only empty) `partial_json`, which would leave the client `arguments: ""`,
   * not JSON: it gets `{}`, as the JSON answer's `JSON.stringify(input)` would give.
   */
  private onBlockStop(data: string): void {
    if (this.tools.size === 0) return; // no tool block is open: nothing to read
    const index = this.read(data)?.index;
    const tool = typeof index === 'number' ? this.tools.get(index) : undefined;
    if (!tool || tool.hasArguments) return;
    tool.hasArguments = true;
    this.emit(`{"tool_calls":[{"index":${tool.index},"function":{"arguments":"{}"}}]}`, null);
  }

  private onMessageDelta(data: string): void {
    const body = this.read(data);
    if (!body) return;
    applyUsage(this.usage, body.usage);
    const stopReason = asRecord(body.delta)?.stop_reason;
    const finish = finishReasonFor(typeof stopReason === 'string' ? stopReason : null);
    if (finish === null) return;
    this.finishSent = true;
    this.emit('{}', finish);
  }

  private onMessageStop(): void {
    // An SDK's final completion needs a finish_reason: a stream that never said why it stopped simply stopped.
    if (!this.finishSent) this.emit('{}', 'stop');
    if (this.ctx.includeUsage) this.out += `${this.prefix}[],"usage":${JSON.stringify(openAiUsage(this.usage))}}\n\n`;
    this.out += DONE;
    this.finished = true;
  }

  private onError(data: string): void {
    const error = readAnthropicError(parseJsonRecord(data));
    if (!error) return this.fail(serverErrorEnvelope(UNREADABLE, BROKEN_CODE));
    this.fail(openAiEnvelopeFromAnthropic(statusForAnthropicType(error.type), error.type, error.message));
  }
}

/** The translator for a node's `text/event-stream` answer: chunks out as the node's events come in. */
export function createChatStreamTranslator(ctx: ChatResponseContext): BodyTranslator {
  return new ChatStreamTranslator(ctx);
}
