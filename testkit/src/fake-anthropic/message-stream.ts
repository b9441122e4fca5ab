// A planned answer as one JSON message or as the SSE event sequence of docs/ANTHROPIC.md §5.
import type { BodyWriter } from './http-io.js';
import { errorEnvelope, type AnthropicErrorType } from '@switchyard/shared';
import { sleep } from './http-io.js';
import type { MessagePlan, PlannedBlock } from './message-plan.js';

/** One server-sent event. */
export interface SseEvent {
  event: string;
  data: { type: string } & Record<string, unknown>;
}

/** The wire form of an event: `event: <name>\ndata: <json>\n\n`. */
export function formatSse(event: SseEvent): string {
  return `event: ${event.event}\ndata: ${JSON.stringify(event.data)}\n\n`;
}

function usageJson(plan: MessagePlan, outputTokens: number): Record<string, unknown> {
  const usage = plan.usage;
  return {
    input_tokens: usage.inputTokens,
    cache_creation_input_tokens: usage.cacheCreationInputTokens,
    cache_read_input_tokens: usage.cacheReadInputTokens,
    cache_creation: {
      ephemeral_5m_input_tokens: usage.ephemeral5mInputTokens,
      ephemeral_1h_input_tokens: usage.ephemeral1hInputTokens,
    },
    output_tokens: outputTokens,
    service_tier: 'standard',
  };
}

function finalBlock(block: PlannedBlock): Record<string, unknown> {
  if (block.type === 'thinking') return { type: 'thinking', thinking: block.thinking, signature: block.signature };
  if (block.type === 'text') return { type: 'text', text: block.text };
  return { type: 'tool_use', id: block.id, name: block.name, input: block.input };
}

/** The non-streaming response body. */
export function messageJson(plan: MessagePlan): Record<string, unknown> {
  return {
    id: plan.id,
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content: plan.blocks.map(finalBlock),
    stop_reason: plan.stopReason,
    stop_sequence: null,
    usage: usageJson(plan, plan.outputTokens),
  };
}

function blockEvents(block: PlannedBlock, index: number): SseEvent[] {
  const delta = (payload: Record<string, unknown>): SseEvent => ({
    event: 'content_block_delta',
    data: { type: 'content_block_delta', index, delta: payload },
  });
  let start: Record<string, unknown>;
  let deltas: SseEvent[];
  if (block.type === 'thinking') {
    start = { type: 'thinking', thinking: '' };
    deltas = block.chunks.map((thinking) => delta({ type: 'thinking_delta', thinking }));
    deltas.push(delta({ type: 'signature_delta', signature: block.signature }));
  } else if (block.type === 'text') {
    start = { type: 'text', text: '' };
    deltas = block.chunks.map((text) => delta({ type: 'text_delta', text }));
  } else {
    start = { type: 'tool_use', id: block.id, name: block.name, input: {} };
    deltas = block.chunks.map((partial_json) => delta({ type: 'input_json_delta', partial_json }));
  }
  return [
    { event: 'content_block_start', data: { type: 'content_block_start', index, content_block: start } },
    ...deltas,
    { event: 'content_block_stop', data: { type: 'content_block_stop', index } },
  ];
}

/** The full event sequence: message_start, ping, blocks, message_delta (cumulative usage), message_stop. */
export function sseEvents(plan: MessagePlan): SseEvent[] {
  const start = { ...messageJson(plan), content: [], stop_reason: null, usage: usageJson(plan, 1) };
  const usage = plan.usage;
  return [
    { event: 'message_start', data: { type: 'message_start', message: start } },
    { event: 'ping', data: { type: 'ping' } },
    ...plan.blocks.flatMap(blockEvents),
    {
      event: 'message_delta',
      data: {
        type: 'message_delta',
        delta: { stop_reason: plan.stopReason, stop_sequence: null },
        usage: {
          input_tokens: usage.inputTokens,
          cache_creation_input_tokens: usage.cacheCreationInputTokens,
          cache_read_input_tokens: usage.cacheReadInputTokens,
          output_tokens: plan.outputTokens,
        },
      },
    },
    { event: 'message_stop', data: { type: 'message_stop' } },
  ];
}

/** How to write a stream. */
export interface StreamWriteOptions {
  requestId: string;
  deltaIntervalMs: number;
  /** Resolves pacing sleeps early when the client or the server goes away. */
  signal: AbortSignal;
  /** After this many events, send `event: error` and end. */
  midStreamError?: { afterEvents: number; errorType: AnthropicErrorType };
  /** After this many events, send nothing more until the client (or the server) goes away. */
  stallAfterEvents?: number;
  /** Called after each event went out. */
  onEvent(event: SseEvent): void;
}

function untilAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
}

/** Writes the events with pacing; returns how many went out. */
export async function writeStream(
  writer: BodyWriter,
  events: SseEvent[],
  options: StreamWriteOptions,
): Promise<number> {
  let sent = 0;
  for (const event of events) {
    if (options.stallAfterEvents !== undefined && sent >= options.stallAfterEvents) {
      await untilAborted(options.signal);
      return sent;
    }
    if (options.midStreamError && sent >= options.midStreamError.afterEvents) {
      const { errorType } = options.midStreamError;
      const message = errorType === 'overloaded_error' ? 'Overloaded' : 'Internal server error';
      const data = errorEnvelope(errorType, message, options.requestId) as unknown as SseEvent['data'];
      writer.write(formatSse({ event: 'error', data }));
      break;
    }
    if (event.event === 'content_block_delta' && options.deltaIntervalMs > 0) {
      await sleep(options.deltaIntervalMs, options.signal);
    }
    if (options.signal.aborted) return sent;
    if (!writer.write(formatSse(event))) return sent;
    sent += 1;
    options.onEvent(event);
  }
  writer.end();
  return sent;
}
