// The node's answers (Messages JSON, SSE, error envelopes) as the OpenAI client gets them (docs/OPENAI.md, "Response"
// and "Errors"), and the real `openai` SDK reading what the translation writes, served from loopback.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { APIError, NotFoundError, OpenAI, RateLimitError } from 'openai';
import { AppError } from '@switchyard/shared';
import { chatCompletionFromMessage, chatTranslation } from './chat-response.js';
import { ChatFieldError, type ChatResponseContext } from './types.js';

const CTX: ChatResponseContext = { requestId: 'req_test', includeUsage: false, created: 1_700_000_000 };
const MODEL = 'claude-sonnet-4-5-20250929';
const JSON_HEADERS = { 'content-type': 'application/json' };
const SSE_HEADERS = { 'content-type': 'text/event-stream; charset=utf-8' };

function message(
  content: unknown[],
  stopReason = 'end_turn',
  usage: Record<string, number> = { input_tokens: 10, output_tokens: 5 },
): Record<string, unknown> {
  return {
    id: 'msg_01xyz',
    type: 'message',
    role: 'assistant',
    model: MODEL,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage,
  };
}

/** The node answer through `chatTranslation`, split into `pieces` chunks (a character may be cut in two). */
function translate(
  status: number,
  headers: Record<string, string>,
  body: string,
  pieces = 3,
  ctx = CTX,
): { text: string; contentType: string } {
  const translator = chatTranslation(ctx).open(status, headers);
  const bytes = Buffer.from(body);
  const size = Math.max(1, Math.ceil(bytes.length / pieces));
  let text = '';
  for (let at = 0; at < bytes.length; at += size) text += translator.push(bytes.subarray(at, at + size));
  return { text: text + translator.end(), contentType: translator.contentType };
}

function translateJson(body: unknown): Record<string, unknown> {
  const { text, contentType } = translate(200, JSON_HEADERS, JSON.stringify(body));
  expect(contentType).toBe('application/json');
  return JSON.parse(text) as Record<string, unknown>;
}

describe('JSON answers', () => {
  it('translate a text answer into a chat.completion', () => {
    expect(
      translateJson(
        message([
          { type: 'text', text: 'Hello ' },
          { type: 'text', text: 'wörld 🌍' },
        ]),
      ),
    ).toEqual({
      id: 'msg_01xyz',
      object: 'chat.completion',
      created: 1_700_000_000,
      model: MODEL,
      choices: [
        {
          index: 0,
          message: { role: 'assistant', content: 'Hello wörld 🌍', refusal: null },
          logprobs: null,
          finish_reason: 'stop',
        },
      ],
      usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15, prompt_tokens_details: { cached_tokens: 0 } },
    });
  });

  it('put thinking in reasoning_content and drop redacted thinking and server tool blocks', () => {
    const body = message([
      { type: 'thinking', thinking: 'First, ', signature: 'sig' },
      { type: 'redacted_thinking', data: 'opaque' },
      { type: 'thinking', thinking: 'then.', signature: 'sig' },
      { type: 'server_tool_use', id: 'srvtoolu_1', name: 'web_search', input: { query: 'x' } },
      { type: 'web_search_tool_result', tool_use_id: 'srvtoolu_1', content: [] },
      { type: 'text', text: 'Done.' },
    ]);
    const { choices } = translateJson(body) as { choices: { message: unknown }[] };
    expect(choices[0]!.message).toEqual({
      role: 'assistant',
      content: 'Done.',
      refusal: null,
      reasoning_content: 'First, then.',
    });
  });

  it('turn one tool_use into tool_calls, content null without text', () => {
    const body = message(
      [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris', days: 2 } }],
      'tool_use',
    );
    const { choices } = translateJson(body) as { choices: { message: unknown; finish_reason: string }[] };
    expect(choices[0]).toMatchObject({
      message: {
        role: 'assistant',
        content: null,
        refusal: null,
        tool_calls: [
          {
            id: 'toolu_1',
            type: 'function',
            function: { name: 'get_weather', arguments: '{"city":"Paris","days":2}' },
          },
        ],
      },
      finish_reason: 'tool_calls',
    });
  });

  it('turn parallel tool_use blocks into tool_calls in order, after the text', () => {
    const body = message(
      [
        { type: 'text', text: 'Both:' },
        { type: 'tool_use', id: 'toolu_1', name: 'a', input: { x: 1 } },
        { type: 'tool_use', id: 'toolu_2', name: 'b', input: {} },
      ],
      'tool_use',
    );
    const { choices } = translateJson(body) as { choices: { message: { content: string; tool_calls: unknown[] } }[] };
    expect(choices[0]!.message.content).toBe('Both:');
    expect(choices[0]!.message.tool_calls).toEqual([
      { id: 'toolu_1', type: 'function', function: { name: 'a', arguments: '{"x":1}' } },
      { id: 'toolu_2', type: 'function', function: { name: 'b', arguments: '{}' } },
    ]);
  });

  // The mapping itself is finishReasonFor's table (chat-stream.test.ts); here, that the JSON answer uses it.
  it('give the finish_reason of the stop_reason', () => {
    const finish = (stopReason: string) =>
      chatCompletionFromMessage(message([{ type: 'text', text: 'x' }], stopReason), 1)?.choices[0].finish_reason;
    expect([finish('max_tokens'), finish('refusal'), finish('end_turn')]).toEqual(['length', 'content_filter', 'stop']);
  });

  it('count cache writes and reads into prompt_tokens, reads as cached_tokens', () => {
    const usage = {
      input_tokens: 20,
      cache_creation_input_tokens: 300,
      cache_read_input_tokens: 4000,
      output_tokens: 50,
    };
    expect(chatCompletionFromMessage(message([], 'end_turn', usage), 1)?.usage).toEqual({
      prompt_tokens: 4320,
      completion_tokens: 50,
      total_tokens: 4370,
      prompt_tokens_details: { cached_tokens: 4000 },
    });
  });

  it.each([
    ['not JSON', '{"id":"msg_1", "type":"mess'],
    ['not a message', '{"type":"completion","completion":"x"}'],
    ['a message without content', '{"type":"message","id":"m","model":"x"}'],
    ['empty', ''],
  ])('answer a node body that is %s with a server_error envelope', (_name, body) => {
    expect(JSON.parse(translate(200, JSON_HEADERS, body).text)).toEqual({
      error: { message: expect.any(String) as unknown, type: 'server_error', param: null, code: null },
    });
  });

  it('answer a body that broke off with a server_error envelope', () => {
    const translator = chatTranslation(CTX).open(200, JSON_HEADERS);
    expect(translator.push(Buffer.from('{"id":'))).toBe('');
    expect(JSON.parse(translator.broke('cut'))).toEqual({
      error: { message: 'cut', type: 'server_error', param: null, code: 'api_error' },
    });
  });
});

describe('open() picks the translator by status and content-type', () => {
  it('streams an event-stream answer and buffers a JSON one', () => {
    const stream = chatTranslation(CTX).open(200, { 'content-type': 'Text/Event-Stream' });
    expect([stream.sse, stream.contentType]).toEqual([true, 'text/event-stream; charset=utf-8']);
    const json = chatTranslation(CTX).open(200, JSON_HEADERS);
    expect([json.sse, json.contentType]).toEqual([false, 'application/json']);
    expect(json.push(Buffer.from('{}'))).toBe('');
    const error = chatTranslation(CTX).open(529, SSE_HEADERS);
    expect([error.sse, error.contentType]).toEqual([false, 'application/json']);
  });
});

describe('node error answers', () => {
  const envelope = (type: string, msg: string): string =>
    JSON.stringify({ type: 'error', error: { type, message: msg }, request_id: 'req_node' });
  it.each([
    [400, 'invalid_request_error', 'invalid_request_error', 'invalid_request_error'],
    [401, 'authentication_error', 'authentication_error', 'authentication_error'],
    [403, 'permission_error', 'permission_error', 'permission_error'],
    [404, 'not_found_error', 'not_found_error', 'model_not_found'],
    [413, 'request_too_large', 'invalid_request_error', 'request_too_large'],
    [429, 'rate_limit_error', 'rate_limit_error', 'rate_limit_error'],
    [500, 'api_error', 'server_error', 'api_error'],
    [529, 'overloaded_error', 'server_error', 'overloaded_error'],
  ])('%i %s: type %s, code %s, message kept', (status, anthropicType, type, code) => {
    const { text, contentType } = translate(status, JSON_HEADERS, envelope(anthropicType, 'Näher: the reason'), 7);
    expect(contentType).toBe('application/json');
    expect(JSON.parse(text)).toEqual({ error: { message: 'Näher: the reason', type, param: null, code } });
  });

  it('never shows a body that is not an envelope: a generic message for the status', () => {
    const { text } = translate(502, { 'content-type': 'text/html' }, '<html>nginx internal 10.0.0.3</html>');
    expect(text).not.toContain('nginx');
    expect(JSON.parse(text)).toEqual({
      error: { message: 'The upstream answered HTTP 502 Bad Gateway', type: 'server_error', param: null, code: null },
    });
    expect(JSON.parse(translate(401, JSON_HEADERS, '{"detail":"no"}').text)).toMatchObject({
      error: { type: 'authentication_error', code: null },
    });
  });

  it("answer a cut error body with the status's generic error", () => {
    const translator = chatTranslation(CTX).open(429, JSON_HEADERS);
    translator.push(Buffer.from('{"type":"err'));
    expect(JSON.parse(translator.broke('cut'))).toMatchObject({
      error: { type: 'rate_limit_error', message: 'The upstream answered HTTP 429 Too Many Requests' },
    });
  });
});

describe('errorBody', () => {
  it("gives the gateway's own errors in the OpenAI envelope", () => {
    const translation = chatTranslation(CTX);
    expect(
      JSON.parse(translation.errorBody(new AppError('upstream_unreachable', 'No node answered'), 'req_1')),
    ).toEqual({
      error: { message: 'No node answered', type: 'server_error', param: null, code: 'upstream_unreachable' },
    });
    expect(JSON.parse(translation.errorBody(new ChatFieldError('n', 'invalid_value', 'n must be 1'), 'req_1'))).toEqual(
      {
        error: { message: 'n must be 1', type: 'invalid_request_error', param: 'n', code: 'invalid_value' },
      },
    );
  });
});

// ---- The real `openai` SDK reads what the translation writes ----

const sse = (event: string, data: unknown): string => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const delta = (index: number, d: Record<string, unknown>): string =>
  sse('content_block_delta', { type: 'content_block_delta', index, delta: d });
const START = sse('message_start', {
  type: 'message_start',
  message: { ...message([], 'end_turn', { input_tokens: 9, output_tokens: 1 }), stop_reason: null },
});
const TOOL_STREAM = [
  START,
  sse('content_block_start', {
    type: 'content_block_start',
    index: 0,
    content_block: { type: 'thinking', thinking: '' },
  }),
  delta(0, { type: 'thinking_delta', thinking: 'Hmm.' }),
  sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
  sse('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }),
  sse('ping', { type: 'ping' }),
  delta(1, { type: 'text_delta', text: 'Looking ' }),
  delta(1, { type: 'text_delta', text: 'up… ✓' }),
  sse('content_block_stop', { type: 'content_block_stop', index: 1 }),
  sse('content_block_start', {
    type: 'content_block_start',
    index: 2,
    content_block: { type: 'tool_use', id: 'toolu_A', name: 'weather', input: {} },
  }),
  delta(2, { type: 'input_json_delta', partial_json: '{"city":' }),
  delta(2, { type: 'input_json_delta', partial_json: '"Oslo"}' }),
  sse('content_block_stop', { type: 'content_block_stop', index: 2 }),
  sse('content_block_start', {
    type: 'content_block_start',
    index: 3,
    content_block: { type: 'tool_use', id: 'toolu_B', name: 'clock', input: {} },
  }),
  delta(3, { type: 'input_json_delta', partial_json: '{"tz":"CET"}' }),
  sse('content_block_stop', { type: 'content_block_stop', index: 3 }),
  sse('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'tool_use', stop_sequence: null },
    usage: { output_tokens: 40 },
  }),
  sse('message_stop', { type: 'message_stop' }),
].join('');
const ERROR_STREAM =
  START +
  delta(0, { type: 'text_delta', text: 'Part' }) +
  sse('error', { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } });

/** What the fake node answers, by the model the SDK asked for. */
const NODE_ANSWERS: Record<string, { status: number; headers: Record<string, string>; body: string }> = {
  stream: { status: 200, headers: SSE_HEADERS, body: TOOL_STREAM },
  'stream-error': { status: 200, headers: SSE_HEADERS, body: ERROR_STREAM },
  json: {
    status: 200,
    headers: JSON_HEADERS,
    body: JSON.stringify(
      message([
        { type: 'thinking', thinking: 'T' },
        { type: 'text', text: 'Hi ✓' },
      ]),
    ),
  },
  'node-429': {
    status: 429,
    headers: JSON_HEADERS,
    body: JSON.stringify({ type: 'error', error: { type: 'rate_limit_error', message: 'Slow down' } }),
  },
  'node-404': {
    status: 404,
    headers: JSON_HEADERS,
    body: JSON.stringify({ type: 'error', error: { type: 'not_found_error', message: 'model: nope' } }),
  },
};

async function readJson(
  req: IncomingMessage,
): Promise<{ model: string; stream_options?: { include_usage?: boolean } }> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8')) as { model: string };
}

/** Writes the translation of a node answer the way the forwarder does: as it comes, in odd-sized chunks. */
async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const request = await readJson(req);
  const node = NODE_ANSWERS[request.model]!;
  const translator = chatTranslation({ ...CTX, includeUsage: request.stream_options?.include_usage === true }).open(
    node.status,
    node.headers,
  );
  res.writeHead(node.status, { 'content-type': translator.contentType });
  const bytes = Buffer.from(node.body);
  for (let at = 0; at < bytes.length; at += 37) {
    res.write(translator.push(bytes.subarray(at, at + 37)));
    await new Promise((r) => setImmediate(r));
  }
  res.end(translator.end());
}

describe('the openai SDK reads the translation', () => {
  let server: Server;
  let client: OpenAI;
  beforeAll(async () => {
    server = createServer((req, res) => void answer(req, res));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    client = new OpenAI({
      baseURL: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
      apiKey: 'x',
      maxRetries: 0,
    });
  });
  afterAll(async () => new Promise<void>((r) => server.close(() => r())));

  it('accumulates a streamed answer: text, two tool calls, finish_reason and usage', async () => {
    const stream = await client.chat.completions.create({
      model: 'stream',
      messages: [{ role: 'user', content: 'q' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let content = '';
    let finish: string | null = null;
    let usage: unknown;
    const calls: { id?: string; name?: string; args: string }[] = [];
    for await (const chunk of stream) {
      expect(chunk).toMatchObject({ id: 'msg_01xyz', object: 'chat.completion.chunk', model: MODEL });
      if (chunk.usage) usage = chunk.usage;
      const choice = chunk.choices[0];
      if (!choice) continue;
      content += choice.delta.content ?? '';
      finish = choice.finish_reason ?? finish;
      for (const call of choice.delta.tool_calls ?? []) {
        const slot = (calls[call.index] ??= { args: '' });
        slot.id ??= call.id;
        slot.name ??= call.function?.name;
        slot.args += call.function?.arguments ?? '';
      }
    }
    expect(content).toBe('Looking up… ✓');
    expect(calls).toEqual([
      { id: 'toolu_A', name: 'weather', args: '{"city":"Oslo"}' },
      { id: 'toolu_B', name: 'clock', args: '{"tz":"CET"}' },
    ]);
    expect(finish).toBe('tool_calls');
    expect(usage).toEqual({
      prompt_tokens: 9,
      completion_tokens: 40,
      total_tokens: 49,
      prompt_tokens_details: { cached_tokens: 0 },
    });
  });

  it('runs the stream helper to the final completion', async () => {
    const runner = client.chat.completions.stream({ model: 'stream', messages: [{ role: 'user', content: 'q' }] });
    const final = await runner.finalChatCompletion();
    expect(
      final.choices[0]!.message.tool_calls?.map((c) =>
        c.type === 'function' ? (JSON.parse(c.function.arguments) as unknown) : null,
      ),
    ).toEqual([{ city: 'Oslo' }, { tz: 'CET' }]);
  });

  it('throws an APIError for a mid-stream error, after the chunks before it', async () => {
    const stream = await client.chat.completions.create({
      model: 'stream-error',
      messages: [{ role: 'user', content: 'q' }],
      stream: true,
    });
    let content = '';
    const consume = async (): Promise<void> => {
      for await (const chunk of stream) content += chunk.choices[0]?.delta.content ?? '';
    };
    const err = await consume().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(APIError);
    expect(err).toMatchObject({
      message: expect.stringContaining('Overloaded') as unknown,
      type: 'server_error',
      code: 'overloaded_error',
    });
    expect(content).toBe('Part');
  });

  it('reads a JSON answer, and throws the error class of a node error status', async () => {
    const completion = await client.chat.completions.create({
      model: 'json',
      messages: [{ role: 'user', content: 'q' }],
    });
    expect(completion.choices[0]!.message.content).toBe('Hi ✓');
    expect((completion.choices[0]!.message as unknown as { reasoning_content: string }).reasoning_content).toBe('T');
    await expect(
      client.chat.completions.create({ model: 'node-429', messages: [{ role: 'user', content: 'q' }] }),
    ).rejects.toBeInstanceOf(RateLimitError);
    await expect(
      client.chat.completions.create({ model: 'node-404', messages: [{ role: 'user', content: 'q' }] }),
    ).rejects.toMatchObject({
      constructor: NotFoundError,
      code: 'model_not_found',
      message: expect.stringContaining('model: nope') as unknown,
    });
  });
});
