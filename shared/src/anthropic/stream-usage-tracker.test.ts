import { createSseParser } from './sse-parser.js';
import { createStreamUsageTracker } from './stream-usage-tracker.js';
import type { StreamUsageResult } from './stream-usage-tracker.js';

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

const delta = (index: number, d: unknown): string =>
  frame('content_block_delta', { type: 'content_block_delta', index, delta: d });

// A realistic turn: thinking, text, a tool call, pings, and two cumulative message_delta frames.
const MESSAGE_START = frame('message_start', {
  type: 'message_start',
  message: {
    id: 'msg_01XYZ',
    type: 'message',
    role: 'assistant',
    model: 'claude-opus-4-5-20251101',
    content: [],
    stop_reason: null,
    stop_sequence: null,
    usage: {
      input_tokens: 377,
      cache_creation_input_tokens: 1500,
      cache_read_input_tokens: 20_000,
      cache_creation: { ephemeral_5m_input_tokens: 500, ephemeral_1h_input_tokens: 1000 },
      output_tokens: 1,
    },
  },
});

const BODY = [
  frame('content_block_start', {
    type: 'content_block_start',
    index: 0,
    content_block: { type: 'thinking', thinking: '' },
  }),
  delta(0, { type: 'thinking_delta', thinking: 'Let me look at the file first.' }),
  frame('ping', { type: 'ping' }),
  delta(0, { type: 'signature_delta', signature: 'EqQBCkYIBxgCKkD' }),
  frame('content_block_stop', { type: 'content_block_stop', index: 0 }),
  frame('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }),
  delta(1, { type: 'text_delta', text: 'Reading ' }),
  delta(1, { type: 'text_delta', text: 'it — ✓ 🎉' }),
  frame('content_block_stop', { type: 'content_block_stop', index: 1 }),
  frame('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: null, stop_sequence: null },
    usage: { output_tokens: 40 },
  }),
  frame('content_block_start', {
    type: 'content_block_start',
    index: 2,
    content_block: { type: 'tool_use', id: 'toolu_01', name: 'Read', input: {} },
  }),
  delta(2, { type: 'input_json_delta', partial_json: '{"file_path":' }),
  frame('ping', { type: 'ping' }),
  delta(2, { type: 'input_json_delta', partial_json: '"/tmp/a.ts"}' }),
  frame('content_block_stop', { type: 'content_block_stop', index: 2 }),
  frame('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'tool_use', stop_sequence: null },
    usage: { input_tokens: 377, cache_creation_input_tokens: 1500, cache_read_input_tokens: 20_000, output_tokens: 95 },
  }),
].join('');

const MESSAGE_STOP = frame('message_stop', { type: 'message_stop' });
const FULL = MESSAGE_START + BODY + MESSAGE_STOP;

function track(stream: string, chunkSize = 7): { result: StreamUsageResult; pending: boolean } {
  const tracker = createStreamUsageTracker();
  const parser = createSseParser(tracker.onEvent);
  const bytes = Buffer.from(stream, 'utf8');
  for (let i = 0; i < bytes.length; i += chunkSize) parser.push(bytes.subarray(i, i + chunkSize));
  parser.end();
  return { result: tracker.result(), pending: parser.pending() };
}

describe('createStreamUsageTracker', () => {
  it('takes input and cache counts from message_start and output from the last message_delta', () => {
    const { result, pending } = track(FULL);
    expect(result).toEqual({
      usage: {
        inputTokens: 377,
        // 95 is the last cumulative figure: summing the deltas would give 135, message_start said 1.
        outputTokens: 95,
        cacheCreationInputTokens: 1500,
        cacheCreation5mInputTokens: 500,
        cacheCreation1hInputTokens: 1000,
        cacheReadInputTokens: 20_000,
      },
      stopReason: 'tool_use',
      model: 'claude-opus-4-5-20251101',
      messageId: 'msg_01XYZ',
      endedCleanly: true,
      error: null,
      eventCount: 18,
    });
    expect(pending).toBe(false);
  });

  it('gives the same result however the stream is chunked', () => {
    const reference = track(FULL, 100_000).result;
    for (const size of [1, 2, 3, 5, 64, 1400]) expect(track(FULL, size).result).toEqual(reference);
  });

  it('lets input and cache counts carried by a later message_delta win', () => {
    const later = frame('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn' },
      usage: { input_tokens: 380, cache_read_input_tokens: 19_000, output_tokens: 7 },
    });
    const { result } = track(MESSAGE_START + later + MESSAGE_STOP);
    expect(result.usage).toMatchObject({
      inputTokens: 380,
      cacheReadInputTokens: 19_000,
      cacheCreationInputTokens: 1500,
      outputTokens: 7,
    });
    expect(result.stopReason).toBe('end_turn');
  });

  it('reports a stream cut short as not ended cleanly, keeping what it saw', () => {
    const at = FULL.indexOf('/tmp/a.ts');
    expect(at).toBeGreaterThan(0);
    const cut = FULL.slice(0, at); // inside a tool-input delta
    const { result, pending } = track(cut);
    expect(result.endedCleanly).toBe(false);
    expect(result.error).toBeNull();
    expect(result.stopReason).toBeNull();
    expect(result.usage).toMatchObject({ inputTokens: 377, outputTokens: 40 });
    expect(pending).toBe(true);
  });

  it('records an error frame and does not count the stream as clean', () => {
    const error = frame('error', {
      type: 'error',
      error: { type: 'overloaded_error', message: 'Overloaded' },
      request_id: 'req_1',
    });
    const { result } = track(MESSAGE_START + error);
    expect(result.error).toEqual({ type: 'overloaded_error', message: 'Overloaded' });
    expect(result.endedCleanly).toBe(false);
    expect(result.usage).toMatchObject({ inputTokens: 377, outputTokens: 1 });
    // Even a message_stop after an error does not make the stream clean.
    expect(track(MESSAGE_START + error + MESSAGE_STOP).result.endedCleanly).toBe(false);
  });

  it('counts an unreadable error frame as an error', () => {
    const { result } = track(MESSAGE_START + 'event: error\ndata: {"type":"err\n\n' + MESSAGE_STOP);
    expect(result.error).toEqual({ type: 'unknown', message: '' });
    expect(result.endedCleanly).toBe(false);
  });

  it('reports no usage when no message_start or message_delta arrived', () => {
    const { result } = track(frame('error', { type: 'error', error: { type: 'api_error', message: 'Internal' } }));
    expect(result.usage).toBeNull();
    expect(result.model).toBeNull();
    expect(result.eventCount).toBe(1);
    expect(track('event: message_start\ndata: not json\n\n').result.usage).toBeNull();
  });

  it('decodes JSON only for the frames it needs, never for deltas and pings', () => {
    const parse = jest.spyOn(JSON, 'parse');
    try {
      const tracker = createStreamUsageTracker();
      const parser = createSseParser(tracker.onEvent);
      parser.push(FULL);
      parser.end();
      // message_start + two message_delta; the other 15 frames are skipped by name.
      expect(parse).toHaveBeenCalledTimes(3);
      expect(tracker.result().eventCount).toBe(18);
    } finally {
      parse.mockRestore();
    }
  });
});
