// The stream translator against hand-written Anthropic event sequences (the shapes of Anthropic's streaming docs),
// fed in every chunking from one piece to single bytes: the output is the docs/OPENAI.md "Streaming" table.
import { createChatStreamTranslator, finishReasonFor } from './chat-stream.js';
import type { BodyTranslator, ChatResponseContext } from './types.js';

const CTX: ChatResponseContext = { requestId: 'req_test', includeUsage: false, created: 1_700_000_000 };
const MODEL = 'claude-sonnet-4-5-20250929';

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

function messageStart(usage: Record<string, number> = { input_tokens: 25, output_tokens: 1 }): string {
  const message = {
    id: 'msg_01abc',
    type: 'message',
    role: 'assistant',
    content: [],
    model: MODEL,
    stop_reason: null,
    stop_sequence: null,
    usage,
  };
  return sse('message_start', { type: 'message_start', message });
}

const textDelta = (index: number, text: string): string =>
  sse('content_block_delta', { type: 'content_block_delta', index, delta: { type: 'text_delta', text } });
const blockStop = (index: number): string => sse('content_block_stop', { type: 'content_block_stop', index });
const messageDelta = (stopReason: string, usage: Record<string, number> = { output_tokens: 15 }): string =>
  sse('message_delta', { type: 'message_delta', delta: { stop_reason: stopReason, stop_sequence: null }, usage });
const MESSAGE_STOP = sse('message_stop', { type: 'message_stop' });

/** A text answer as Anthropic streams it, with multi-byte characters to split. */
const TEXT_STREAM = [
  messageStart({ input_tokens: 25, cache_creation_input_tokens: 10, cache_read_input_tokens: 100, output_tokens: 1 }),
  sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
  sse('ping', { type: 'ping' }),
  textDelta(0, 'Héllo, '),
  textDelta(0, '世界 🚀'),
  textDelta(0, '!'),
  blockStop(0),
  messageDelta('end_turn', { output_tokens: 12 }),
  MESSAGE_STOP,
].join('');

function run(translator: BodyTranslator, chunks: Buffer[]): string {
  let out = '';
  for (const chunk of chunks) out += translator.push(chunk);
  return out + translator.end();
}

function bytewise(text: string): Buffer[] {
  const bytes = Buffer.from(text);
  return Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
}

/** The `data:` payloads of a translated stream, parsed ([DONE] kept as the string). */
function events(out: string): unknown[] {
  expect(out.endsWith('\n\n')).toBe(true);
  return out
    .slice(0, -2)
    .split('\n\n')
    .map((frame) => {
      expect(frame.startsWith('data: ')).toBe(true);
      const data = frame.slice('data: '.length);
      return data === '[DONE]' ? data : (JSON.parse(data) as unknown);
    });
}

interface Chunk {
  id: string;
  object: string;
  created: number;
  model: string;
  choices: { index: number; delta: Record<string, unknown>; finish_reason: string | null }[];
  usage?: Record<string, unknown>;
}

function deltas(out: string): Record<string, unknown>[] {
  return (events(out).filter((e) => e !== '[DONE]') as Chunk[]).flatMap((c) => c.choices.map((ch) => ch.delta));
}

describe('chat stream translator', () => {
  it('translates a text stream chunk by chunk, per the Streaming table', () => {
    const translator = createChatStreamTranslator(CTX);
    expect([translator.contentType, translator.sse]).toEqual(['text/event-stream; charset=utf-8', true]);
    const out = run(translator, [Buffer.from(TEXT_STREAM)]);
    const head = { id: 'msg_01abc', object: 'chat.completion.chunk', created: 1_700_000_000, model: MODEL };
    expect(events(out)).toEqual([
      { ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: 'Héllo, ' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: '世界 🚀' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: { content: '!' }, finish_reason: null }] },
      { ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] },
      '[DONE]',
    ]);
  });

  it('gives the same bytes fed byte by byte (frames and UTF-8 characters split), in one chunk, or with CRLF', () => {
    const whole = run(createChatStreamTranslator(CTX), [Buffer.from(TEXT_STREAM)]);
    expect(run(createChatStreamTranslator(CTX), bytewise(TEXT_STREAM))).toBe(whole);
    expect(run(createChatStreamTranslator(CTX), bytewise(TEXT_STREAM.replace(/\n/g, '\r\n')))).toBe(whole);
  });

  it('is incremental: each complete event leaves at once, a partial one waits for its end', () => {
    const translator = createChatStreamTranslator(CTX);
    const start = messageStart();
    expect(translator.push(Buffer.from(start.slice(0, 20)))).toBe('');
    expect(events(translator.push(Buffer.from(start.slice(20))))).toHaveLength(1);
    const delta = Buffer.from(textDelta(0, 'ab'));
    expect(translator.push(delta.subarray(0, delta.length - 1))).toBe('');
    expect(deltas(translator.push(delta.subarray(delta.length - 1)))).toEqual([{ content: 'ab' }]);
  });

  it('maps thinking to reasoning_content and drops signatures, redacted thinking and unknown events', () => {
    const stream = [
      messageStart(),
      sse('content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'thinking', thinking: '', signature: '' },
      }),
      sse('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'thinking_delta', thinking: 'Let me think.' },
      }),
      sse('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'signature_delta', signature: 'EqQBCgIYAhIM' },
      }),
      blockStop(0),
      sse('content_block_start', {
        type: 'content_block_start',
        index: 1,
        content_block: { type: 'redacted_thinking', data: 'xyz' },
      }),
      blockStop(1),
      sse('some_future_event', { type: 'some_future_event', anything: 1 }),
      sse('content_block_start', { type: 'content_block_start', index: 2, content_block: { type: 'text', text: '' } }),
      textDelta(2, 'Answer.'),
      blockStop(2),
      messageDelta('end_turn'),
      MESSAGE_STOP,
    ].join('');
    expect(deltas(run(createChatStreamTranslator(CTX), [Buffer.from(stream)]))).toEqual([
      { role: 'assistant', content: '' },
      { reasoning_content: 'Let me think.' },
      { content: 'Answer.' },
      {},
    ]);
  });

  it('streams two parallel tool calls, indexed 0 and 1 among the tool calls, with their argument deltas', () => {
    const toolStart = (index: number, id: string, name: string): string =>
      sse('content_block_start', {
        type: 'content_block_start',
        index,
        content_block: { type: 'tool_use', id, name, input: {} },
      });
    const args = (index: number, partial: string): string =>
      sse('content_block_delta', {
        type: 'content_block_delta',
        index,
        delta: { type: 'input_json_delta', partial_json: partial },
      });
    const stream = [
      messageStart(),
      sse('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
      textDelta(0, 'Checking both.'),
      blockStop(0),
      toolStart(1, 'toolu_A', 'get_weather'),
      args(1, ''),
      args(1, '{"city": "Par'),
      args(1, 'is"}'),
      blockStop(1),
      toolStart(2, 'toolu_B', 'get_time'),
      args(2, '{"tz":"CET"}'),
      blockStop(2),
      messageDelta('tool_use'),
      MESSAGE_STOP,
    ].join('');
    const out = run(createChatStreamTranslator(CTX), bytewise(stream));
    expect(deltas(out)).toEqual([
      { role: 'assistant', content: '' },
      { content: 'Checking both.' },
      { tool_calls: [{ index: 0, id: 'toolu_A', type: 'function', function: { name: 'get_weather', arguments: '' } }] },
      { tool_calls: [{ index: 0, function: { arguments: '{"city": "Par' } }] },
      { tool_calls: [{ index: 0, function: { arguments: 'is"}' } }] },
      { tool_calls: [{ index: 1, id: 'toolu_B', type: 'function', function: { name: 'get_time', arguments: '' } }] },
      { tool_calls: [{ index: 1, function: { arguments: '{"tz":"CET"}' } }] },
      {},
    ]);
    expect((events(out).at(-2) as Chunk).choices[0]!.finish_reason).toBe('tool_calls');
  });

  it('gives a tool called without input "{}" as its arguments, so they parse as JSON', () => {
    const stream = [
      messageStart(),
      sse('content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'tool_use', id: 'toolu_C', name: 'now', input: {} },
      }),
      sse('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'input_json_delta', partial_json: '' },
      }),
      blockStop(0),
      messageDelta('tool_use'),
      MESSAGE_STOP,
    ].join('');
    expect(deltas(run(createChatStreamTranslator(CTX), [Buffer.from(stream)])).slice(2, 3)).toEqual([
      { tool_calls: [{ index: 0, function: { arguments: '{}' } }] },
    ]);
  });

  it('maps every stop_reason to a finish_reason (the table the JSON answer shares), any other to stop', () => {
    const reasons = [
      'end_turn',
      'stop_sequence',
      'pause_turn',
      'max_tokens',
      'model_context_window_exceeded',
      'tool_use',
      'refusal',
      'a_future_reason',
    ];
    expect(reasons.map(finishReasonFor)).toEqual([
      'stop',
      'stop',
      'stop',
      'length',
      'length',
      'tool_calls',
      'content_filter',
      'stop',
    ]);
    expect(finishReasonFor(null)).toBeNull();
  });

  it('sends the finish_reason of message_delta in a chunk of its own', () => {
    const out = run(createChatStreamTranslator(CTX), [
      Buffer.from(messageStart() + messageDelta('tool_use') + MESSAGE_STOP),
    ]);
    expect((events(out).at(-2) as Chunk).choices).toEqual([{ index: 0, delta: {}, finish_reason: 'tool_calls' }]);
  });

  it('ends with a usage chunk (choices: []) before [DONE] only with include_usage, the latest counts winning', () => {
    const withUsage = events(
      run(createChatStreamTranslator({ ...CTX, includeUsage: true }), [Buffer.from(TEXT_STREAM)]),
    );
    expect(withUsage.at(-1)).toBe('[DONE]');
    expect(withUsage.at(-2)).toEqual({
      id: 'msg_01abc',
      object: 'chat.completion.chunk',
      created: 1_700_000_000,
      model: MODEL,
      choices: [],
      usage: {
        prompt_tokens: 135,
        completion_tokens: 12,
        total_tokens: 147,
        prompt_tokens_details: { cached_tokens: 100 },
      },
    });
    const without = events(run(createChatStreamTranslator(CTX), [Buffer.from(TEXT_STREAM)]));
    expect(without.filter((e) => (e as Chunk).usage !== undefined)).toEqual([]);
    expect(without.length).toBe(withUsage.length - 1);
  });

  it('takes cumulative counts from message_delta when it carries them', () => {
    const stream =
      messageStart({ input_tokens: 5, output_tokens: 1 }) +
      messageDelta('end_turn', { input_tokens: 7, output_tokens: 3 }) +
      messageDelta('end_turn', { output_tokens: 9 }) +
      MESSAGE_STOP;
    const usage = (
      events(run(createChatStreamTranslator({ ...CTX, includeUsage: true }), [Buffer.from(stream)])).at(-2) as Chunk
    ).usage;
    expect(usage).toEqual({
      prompt_tokens: 7,
      completion_tokens: 9,
      total_tokens: 16,
      prompt_tokens_details: { cached_tokens: 0 },
    });
  });

  it('turns a mid-stream event: error into the OpenAI envelope and ends there, without [DONE]', () => {
    const error = sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });
    const translator = createChatStreamTranslator({ ...CTX, includeUsage: true });
    const out = translator.push(
      Buffer.from(messageStart() + textDelta(0, 'Hi') + error + textDelta(0, 'after') + MESSAGE_STOP),
    );
    expect(events(out).slice(2)).toEqual([
      { error: { message: 'Overloaded', type: 'server_error', param: null, code: 'overloaded_error' } },
    ]);
    expect(translator.push(Buffer.from(textDelta(0, 'more')))).toBe('');
    expect(translator.end()).toBe('');
    expect(translator.broke('x')).toBe('');
  });

  it('maps a stream error by its Anthropic type (rate_limit_error is a rate_limit_error)', () => {
    const error = sse('error', { type: 'error', error: { type: 'rate_limit_error', message: 'slow down' } });
    expect(events(run(createChatStreamTranslator(CTX), [Buffer.from(error)]))).toEqual([
      { error: { message: 'slow down', type: 'rate_limit_error', param: null, code: 'rate_limit_error' } },
    ]);
  });

  it('ends a stream that broke off with a server_error frame, a torn event dropped', () => {
    const translator = createChatStreamTranslator(CTX);
    const partial = textDelta(0, 'lost');
    const out =
      translator.push(Buffer.from(messageStart() + textDelta(0, 'kept') + partial.slice(0, 30))) +
      translator.broke('The stream from the upstream node broke off before its end');
    expect(events(out)).toEqual([
      expect.objectContaining({ choices: [expect.objectContaining({ delta: { role: 'assistant', content: '' } })] }),
      expect.objectContaining({ choices: [expect.objectContaining({ delta: { content: 'kept' } })] }),
      {
        error: {
          message: 'The stream from the upstream node broke off before its end',
          type: 'server_error',
          param: null,
          code: 'api_error',
        },
      },
    ]);
    expect(translator.end()).toBe('');
  });

  it('answers a break before any event with just the error frame', () => {
    expect(events(createChatStreamTranslator(CTX).broke('gone'))).toEqual([
      { error: { message: 'gone', type: 'server_error', param: null, code: 'api_error' } },
    ]);
  });

  it('never passes a stream that ended without message_stop for a whole one', () => {
    const out = run(createChatStreamTranslator(CTX), [
      Buffer.from(messageStart() + textDelta(0, 'Hi') + messageDelta('end_turn')),
    ]);
    expect(out).not.toContain('[DONE]');
    expect(events(out).at(-1)).toMatchObject({ error: { type: 'server_error' } });
  });

  it('ends with an error on an event it cannot read, rather than dropping its text', () => {
    const out = run(createChatStreamTranslator(CTX), [
      Buffer.from(`${messageStart()}event: content_block_delta\ndata: {not json\n\n${textDelta(0, 'x')}`),
    ]);
    expect(events(out).slice(1)).toEqual([
      { error: expect.objectContaining({ type: 'server_error', code: 'api_error' }) as unknown },
    ]);
  });

  it('gives a stream that never said why it stopped finish_reason "stop", so an SDK can finish its completion', () => {
    const out = run(createChatStreamTranslator(CTX), [Buffer.from(messageStart() + textDelta(0, 'Hi') + MESSAGE_STOP)]);
    const chunks = events(out);
    expect(chunks.at(-1)).toBe('[DONE]');
    expect(chunks.at(-2)).toMatchObject({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
    expect(out.match(/"finish_reason":"stop"/g)).toHaveLength(1);
  });

  it("says it is closed once [DONE] or an error was written, so the relay ends the client's response there", () => {
    const whole = createChatStreamTranslator(CTX);
    whole.push(Buffer.from(messageStart() + textDelta(0, 'Hi')));
    expect(whole.closed?.()).toBe(false);
    whole.push(Buffer.from(messageDelta('end_turn') + MESSAGE_STOP));
    expect(whole.closed?.()).toBe(true);
    const failed = createChatStreamTranslator(CTX);
    failed.push(Buffer.from(`${messageStart()}event: message_delta\ndata: {not json\n\n`));
    expect(failed.closed?.()).toBe(true);
  });

  it('adds nothing after [DONE]', () => {
    const translator = createChatStreamTranslator(CTX);
    expect(translator.push(Buffer.from(TEXT_STREAM)).endsWith('data: [DONE]\n\n')).toBe(true);
    expect(translator.push(Buffer.from(textDelta(0, 'late')))).toBe('');
    expect([translator.end(), translator.broke('late')]).toEqual(['', '']);
  });
});
