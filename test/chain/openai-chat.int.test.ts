// POST /v1/chat/completions end to end, driven by the official `openai` SDK: gateway → node-agents → the fake
// upstream. Each scenario checks what the client sees and, with toEqual, the Messages body the fake received
// against a hand-written fixture (test/chain/openai-fixtures/, never produced by the translator). docs/OPENAI.md
// is the mapping these follow.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Anthropic } from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import type {
  ChatCompletionChunk,
  ChatCompletionCreateParamsNonStreaming,
  ChatCompletionMessageParam,
  ChatCompletionTool,
} from 'openai/resources/chat/completions';
import { testRedisUrl, type RecordedRequest, type UsageTotals, startStack, type Stack } from '@switchyard/testkit';

jest.setTimeout(120_000);

const MODEL = 'claude-sonnet-4-6';
/** The fake's answer text (its responseText), split into 3 text deltas. */
const ANSWER = 'Siding 4 takes the grain wagons; the others stay full until noon.';
/** The fake's thinking for a one-message conversation (message-plan.ts). */
const THINKING = 'The user sent 1 message(s); a short, deterministic reply will do.';
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

const WEATHER: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_weather',
    description: 'Current weather for a city',
    parameters: {
      type: 'object',
      properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['celsius', 'fahrenheit'] } },
      required: ['city'],
    },
    // Ignored (docs/OPENAI.md): the fixture has no trace of it.
    strict: true,
  },
};
const TIME: ChatCompletionTool = {
  type: 'function',
  function: {
    name: 'get_time',
    parameters: { type: 'object', properties: { zone: { type: 'string', enum: ['Europe/Paris', 'UTC'] } } },
  },
};

let chain: Stack;
let key: string;
let client: OpenAI;

beforeAll(async () => {
  chain = await startStack({
    redisUrl: testRedisUrl(),
    gatewayEnv: { MODEL_ALIASES: JSON.stringify({ 'gpt-4o': MODEL }) },
    fakeTiming: { responseText: ANSWER, textDeltas: 3 },
  });
  await chain.waitReady();
  key = (await chain.createKey()).key;
  client = new OpenAI({ baseURL: `${chain.gatewayUrl}/v1`, apiKey: key, maxRetries: 0 });
});
afterAll(async () => {
  await chain?.stop();
});
afterEach(() => {
  chain.fake.setTiming({ parallelToolUse: false });
  chain.fake.clearFaults();
});

/** A hand-written fixture, with the `{{name}}` placeholders filled in. */
function fixture(file: string, ids: Record<string, string> = {}): Record<string, unknown> {
  const text = readFileSync(join(__dirname, 'openai-fixtures', file), 'utf8');
  return JSON.parse(text, (_key, value: unknown) =>
    typeof value === 'string' ? value.replace(/\{\{(\w+)\}\}/g, (whole, name: string) => ids[name] ?? whole) : value,
  ) as Record<string, unknown>;
}

const messageRequests = (): RecordedRequest[] => chain.fake.requests.filter((r) => r.route === 'messages');
/** The last /v1/messages the fake received. */
function lastMessages(): RecordedRequest {
  const last = messageRequests().at(-1);
  if (!last) throw new Error('the fake received no /v1/messages request');
  return last;
}
const lastBody = (): unknown => lastMessages().body;

function usageSince(before: UsageTotals): UsageTotals {
  const now = chain.fake.usageTotals();
  return {
    input: now.input - before.input,
    output: now.output - before.output,
    cacheCreation: now.cacheCreation - before.cacheCreation,
    cacheRead: now.cacheRead - before.cacheRead,
    requests: now.requests - before.requests,
  };
}

/** What the OpenAI usage must be for what the fake reported (docs/OPENAI.md, the response table). */
function openAiUsage(u: UsageTotals) {
  const prompt = u.input + u.cacheCreation + u.cacheRead;
  return {
    prompt_tokens: prompt,
    completion_tokens: u.output,
    total_tokens: prompt + u.output,
    prompt_tokens_details: { cached_tokens: u.cacheRead },
  };
}

/** A stream's chunks, and the error it ended with (undefined: it ended cleanly). */
async function drain(
  stream: AsyncIterable<ChatCompletionChunk>,
): Promise<{ chunks: ChatCompletionChunk[]; error: unknown }> {
  const chunks: ChatCompletionChunk[] = [];
  try {
    for await (const chunk of stream) chunks.push(chunk);
    return { chunks, error: undefined };
  } catch (error) {
    return { chunks, error };
  }
}

const contentOf = (chunks: ChatCompletionChunk[]) => chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
const reasoningOf = (chunks: ChatCompletionChunk[]) =>
  chunks
    .map((c) => (c.choices[0]?.delta as { reasoning_content?: string } | undefined)?.reasoning_content ?? '')
    .join('');

/** The streamed tool calls, put together by their index. */
function toolCallsOf(chunks: ChatCompletionChunk[]): { index: number; id: string; name: string; arguments: string }[] {
  const calls: { index: number; id: string; name: string; arguments: string }[] = [];
  for (const chunk of chunks) {
    for (const delta of chunk.choices[0]?.delta.tool_calls ?? []) {
      let call = calls.find((c) => c.index === delta.index);
      if (!call) {
        call = { index: delta.index, id: '', name: '', arguments: '' };
        calls.push(call);
      }
      call.id += delta.id ?? '';
      call.name += delta.function?.name ?? '';
      call.arguments += delta.function?.arguments ?? '';
    }
  }
  return calls;
}

/** The error a call threw (fails the test when it did not throw). */
async function thrown(call: () => Promise<unknown>): Promise<unknown> {
  try {
    await call();
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to throw');
}

describe('chat completions through the chain', () => {
  test('a plain completion: system and developer messages, passed and ignored fields, the fake text and its usage', async () => {
    const before = chain.fake.usageTotals();
    const params: ChatCompletionCreateParamsNonStreaming = {
      model: MODEL,
      messages: [
        { role: 'system', content: 'You plan shunting moves in a freight yard.' },
        { role: 'user', content: 'Which siding takes the grain wagons?' },
        // Wherever it appears, a developer message joins the system prompt, in order.
        { role: 'developer', content: 'Answer in one sentence.' },
      ],
      max_completion_tokens: 300,
      temperature: 0.2,
      top_p: 0.9,
      stop: 'END',
      user: 'driver-7',
      // Ignored: n 1, logprobs false, seed, store, an empty logit_bias, a zero penalty, modalities text.
      n: 1,
      logprobs: false,
      seed: 42,
      store: false,
      logit_bias: {},
      presence_penalty: 0,
      modalities: ['text'],
    };
    const completion = await client.chat.completions.create(params);

    expect(lastBody()).toEqual(fixture('plain.json'));
    expect(completion.object).toBe('chat.completion');
    expect(completion.id).toMatch(/^msg_/);
    expect(completion.model).toBe(MODEL);
    expect(typeof completion.created).toBe('number');
    expect(completion.choices).toHaveLength(1);
    expect(completion.choices[0]).toMatchObject({
      index: 0,
      finish_reason: 'stop',
      logprobs: null,
      message: { role: 'assistant', content: ANSWER, refusal: null },
    });
    expect(completion.choices[0]?.message.tool_calls ?? []).toEqual([]);
    const reported = usageSince(before);
    expect(reported.requests).toBe(1);
    expect(completion.usage).toMatchObject(openAiUsage(reported));
    // Two headers change on this route; the client's own (its user agent) go along as they came.
    const headers = lastMessages().headers;
    expect(headers['anthropic-version']).toBe('2023-06-01');
    expect(headers['user-agent']).toMatch(/^OpenAI\/JS /);
  });

  test('a stream with include_usage: the role first, the same text, finish_reason stop, usage last', async () => {
    const before = chain.fake.usageTotals();
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [
        {
          role: 'system',
          content: [
            { type: 'text', text: 'You are terse.' },
            { type: 'text', text: 'Use metric units.' },
          ],
        },
        { role: 'user', content: 'Stream the answer, please.' },
      ],
      max_tokens: 200,
      stream: true,
      stream_options: { include_usage: true },
    });
    const { chunks, error } = await drain(stream);
    expect(error).toBeUndefined();

    expect(lastBody()).toEqual(fixture('stream.json'));
    expect(chunks.length).toBeGreaterThanOrEqual(5);
    expect(
      chunks.every((c) => c.object === 'chat.completion.chunk' && c.id.startsWith('msg_') && c.model === MODEL),
    ).toBe(true);
    expect(chunks[0]?.choices[0]?.delta.role).toBe('assistant');
    expect(contentOf(chunks)).toBe(ANSWER);
    expect(chunks.filter((c) => c.choices[0]?.delta.content).length).toBe(3);
    expect(chunks.flatMap((c) => c.choices.map((choice) => choice.finish_reason)).filter((r) => r !== null)).toEqual([
      'stop',
    ]);
    const last = chunks.at(-1);
    expect(last?.choices).toEqual([]);
    expect(last?.usage).toMatchObject(openAiUsage(usageSince(before)));
    expect(chunks.slice(0, -1).every((c) => c.usage === undefined || c.usage === null)).toBe(true);
  });

  test('a tool call round trip: required → tool_calls with parsed arguments; the result sent back → a text answer', async () => {
    const question: ChatCompletionMessageParam = { role: 'user', content: 'What is the weather in Paris?' };
    const first = await client.chat.completions.create({
      model: MODEL,
      messages: [question],
      tools: [WEATHER],
      tool_choice: 'required',
    });
    expect(lastBody()).toEqual(fixture('tool-round-trip.json').turn1);
    const choice = first.choices[0];
    expect(choice?.finish_reason).toBe('tool_calls');
    expect(choice?.message.content).toBe(ANSWER);
    const calls = choice?.message.tool_calls ?? [];
    expect(calls).toHaveLength(1);
    const call = calls[0];
    if (call?.type !== 'function') throw new Error(`expected a function tool call, got ${JSON.stringify(call)}`);
    expect(call.id).toMatch(/^toolu_/);
    expect(call.function.name).toBe('get_weather');
    expect(JSON.parse(call.function.arguments)).toEqual({ city: 'fake', unit: 'celsius' });

    // As the SDK's own examples do: the assistant message goes back as it came, then the tool's result.
    const second = await client.chat.completions.create({
      model: MODEL,
      messages: [
        question,
        choice?.message as ChatCompletionMessageParam,
        { role: 'tool', tool_call_id: call.id, content: '18 °C and clear' },
      ],
      tools: [WEATHER],
      tool_choice: 'auto',
    });
    expect(lastBody()).toEqual(fixture('tool-round-trip.json', { call_0: call.id }).turn2);
    expect(second.choices[0]?.finish_reason).toBe('stop');
    expect(second.choices[0]?.message.content).toBe(ANSWER);
    expect(second.choices[0]?.message.tool_calls ?? []).toEqual([]);
  });

  test('parallel tool calls: streamed at indexes 0 and 1; both results go back merged into one user message', async () => {
    chain.fake.setTiming({ parallelToolUse: true });
    const question: ChatCompletionMessageParam = { role: 'user', content: 'Weather and local time in Paris?' };
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [question],
      tools: [WEATHER, TIME],
      tool_choice: 'required',
      stream: true,
    });
    const { chunks, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(lastBody()).toEqual(fixture('parallel-tools.json').turn1);

    const calls = toolCallsOf(chunks);
    expect(calls.map((c) => [c.index, c.name])).toEqual([
      [0, 'get_weather'],
      [1, 'get_time'],
    ]);
    expect(calls.every((c) => c.id.startsWith('toolu_'))).toBe(true);
    expect(JSON.parse(calls[0]?.arguments ?? '')).toEqual({ city: 'fake', unit: 'celsius' });
    expect(JSON.parse(calls[1]?.arguments ?? '')).toEqual({ zone: 'Europe/Paris' });
    // A tool call's first delta carries its id, type and name with empty arguments.
    const starts = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []).filter((d) => d.id !== undefined);
    expect(starts).toEqual([
      { index: 0, id: calls[0]?.id, type: 'function', function: { name: 'get_weather', arguments: '' } },
      { index: 1, id: calls[1]?.id, type: 'function', function: { name: 'get_time', arguments: '' } },
    ]);
    expect(chunks.flatMap((c) => c.choices.map((choice) => choice.finish_reason)).filter((r) => r !== null)).toEqual([
      'tool_calls',
    ]);

    const [weather, time] = calls as [(typeof calls)[0], (typeof calls)[0]];
    const second = await client.chat.completions.create({
      model: MODEL,
      messages: [
        question,
        {
          role: 'assistant',
          content: '',
          tool_calls: [weather, time].map((c) => ({
            id: c.id,
            type: 'function' as const,
            function: { name: c.name, arguments: c.arguments },
          })),
        },
        { role: 'tool', tool_call_id: weather.id, content: '18 °C and clear' },
        { role: 'tool', tool_call_id: time.id, content: [{ type: 'text', text: '14:05' }] },
        { role: 'user', content: 'Summarise both in one line.' },
      ],
      tools: [WEATHER, TIME],
    });
    expect(lastBody()).toEqual(fixture('parallel-tools.json', { call_0: weather.id, call_1: time.id }).turn2);
    expect(second.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: ANSWER } });
  });

  test('parallel_tool_calls false: disable_parallel_tool_use, and one tool call', async () => {
    chain.fake.setTiming({ parallelToolUse: true });
    const completion = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Weather and local time in Paris?' }],
      tools: [WEATHER, TIME],
      tool_choice: 'required',
      parallel_tool_calls: false,
    });
    expect(lastBody()).toEqual(fixture('parallel-tools.json').notParallel);
    expect(
      completion.choices[0]?.message.tool_calls?.map((c) => (c.type === 'function' ? c.function.name : c.type)),
    ).toEqual(['get_weather']);
  });

  test('image parts: a base64 data URL and an https URL', async () => {
    const completion = await client.chat.completions.create({
      model: MODEL,
      max_completion_tokens: 100,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What do these two pictures show?' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            // detail is ignored.
            { type: 'image_url', image_url: { url: 'https://example.com/yard/siding-4.jpg', detail: 'high' } },
          ],
        },
      ],
    });
    expect(lastBody()).toEqual(fixture('images.json'));
    expect(completion.choices[0]?.message.content).toBe(ANSWER);
  });

  test('reasoning_effort: thinking with its budget and max_tokens per the doc; the client sees reasoning_content', async () => {
    const question: ChatCompletionMessageParam = { role: 'user', content: 'Think first, then answer.' };
    const low = await client.chat.completions.create({ model: MODEL, messages: [question], reasoning_effort: 'low' });
    expect(lastBody()).toEqual(fixture('reasoning.json').low);
    // The SDK's type has no reasoning_content (docs/OPENAI.md: the field DeepSeek, vLLM and LiteLLM use).
    const message: { content: string | null; reasoning_content?: string } | undefined = low.choices[0]?.message;
    expect(message?.reasoning_content).toBe(THINKING);
    expect(message?.content).toBe(ANSWER);

    // With the client's max tokens, the budget is at most max_tokens − 1; streamed, thinking arrives as reasoning_content.
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [question],
      reasoning_effort: 'medium',
      max_completion_tokens: 3000,
      stream: true,
    });
    const { chunks, error } = await drain(stream);
    expect(error).toBeUndefined();
    expect(lastBody()).toEqual(fixture('reasoning.json').mediumCapped);
    expect(reasoningOf(chunks)).toBe(THINKING);
    expect(contentOf(chunks)).toBe(ANSWER);
  });

  test('unsupported fields are refused with a 400 naming them, and nothing reaches a node', async () => {
    const sent = chain.fake.requests.length;
    const ask = (extra: Record<string, unknown>) => () =>
      client.chat.completions.create({
        model: MODEL,
        messages: [{ role: 'user', content: 'hi' }],
        ...extra,
      } as ChatCompletionCreateParamsNonStreaming);
    const refusals: [Record<string, unknown>, string, string][] = [
      [{ n: 2 }, 'n', 'invalid_value'],
      [{ logprobs: true }, 'logprobs', 'unsupported_parameter'],
      [{ temperature: 1.5 }, 'temperature', 'invalid_value'],
    ];
    for (const [extra, param, code] of refusals) {
      const err = await thrown(ask(extra));
      expect(err).toBeInstanceOf(OpenAI.BadRequestError);
      const apiError = err as InstanceType<typeof OpenAI.BadRequestError>;
      expect({
        sent: extra,
        status: apiError.status,
        type: apiError.type,
        param: apiError.param,
        code: apiError.code,
      }).toEqual({
        sent: extra,
        status: 400,
        type: 'invalid_request_error',
        param,
        code,
      });
    }
    expect(chain.fake.requests.length).toBe(sent);
  });

  test('an upstream error mid-stream is thrown by the SDK while iterating, after the text already sent', async () => {
    // message_start, ping, the text block's start and its first delta; then `event: error`.
    chain.fake.inject({ kind: 'mid_stream_error', afterEvents: 4 });
    const stream = await client.chat.completions.create({
      model: MODEL,
      messages: [{ role: 'user', content: 'Tell me, slowly.' }],
      stream: true,
    });
    const { chunks, error } = await drain(stream);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).message).toMatch(/overloaded/i);
    const text = contentOf(chunks);
    expect(text.length).toBeGreaterThan(0);
    expect(ANSWER.startsWith(text)).toBe(true);
    expect(text).not.toBe(ANSWER);
    expect(chunks.flatMap((c) => c.choices.map((choice) => choice.finish_reason)).filter((r) => r !== null)).toEqual(
      [],
    );
  });

  test('models.list answers both SDKs from the same endpoint; aliases are not listed', async () => {
    const openaiModels = (await client.models.list()).data;
    const ids = openaiModels.map((m) => m.id);
    expect(ids).toContain(MODEL);
    expect(ids).not.toContain('gpt-4o');
    for (const model of openaiModels) {
      const anthropicShape = model as OpenAI.Model & { created_at?: string; display_name?: string };
      expect(model).toMatchObject({ object: 'model', owned_by: 'anthropic' });
      expect(model.created).toBe(Date.parse(anthropicShape.created_at ?? '') / 1000);
      expect(typeof anthropicShape.display_name).toBe('string');
    }
    expect(chain.fake.requests.filter((r) => r.route === 'models').at(-1)?.headers['anthropic-version']).toBe(
      '2023-06-01',
    );

    const anthropic = new Anthropic({ baseURL: chain.gatewayUrl, apiKey: key, maxRetries: 0 });
    const claudeModels = (await anthropic.models.list()).data;
    expect(claudeModels.map((m) => m.id)).toEqual(ids);
    expect(claudeModels.every((m) => m.type === 'model' && m.display_name.length > 0)).toBe(true);
  });

  test('errors come in the OpenAI envelope: a bad gateway key is an AuthenticationError', async () => {
    const stranger = new OpenAI({ baseURL: `${chain.gatewayUrl}/v1`, apiKey: 'sy-not-a-key', maxRetries: 0 });
    const err = await thrown(() =>
      stranger.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect(err).toBeInstanceOf(OpenAI.AuthenticationError);
    expect(err).toMatchObject({ status: 401, type: 'authentication_error', code: 'invalid_api_key' });
    const raw = (err as InstanceType<typeof OpenAI.AuthenticationError>).error as Record<string, unknown>;
    expect(Object.keys(raw).sort()).toEqual(['code', 'message', 'param', 'type']);
    expect(typeof raw.message).toBe('string');
  });

  test("a name that is neither a Claude id nor an alias goes as sent; Anthropic's 404 comes back as a NotFoundError", async () => {
    // The fake serves only claude-* names.
    const err = await thrown(() =>
      client.chat.completions.create({ model: 'gpt-4.1', messages: [{ role: 'user', content: 'hi' }] }),
    );
    expect((lastBody() as { model: string }).model).toBe('gpt-4.1');
    expect(err).toBeInstanceOf(OpenAI.NotFoundError);
    expect(err).toMatchObject({ status: 404, type: 'not_found_error' });
  });

  test('MODEL_ALIASES: gpt-4o reaches the node as the Claude model, which the answer names', async () => {
    const completion = await client.chat.completions.create({
      model: 'gpt-4o',
      messages: [{ role: 'user', content: 'Which model am I talking to?' }],
    });
    expect(lastBody()).toEqual(fixture('alias.json'));
    expect(completion.model).toBe(MODEL);
    expect(completion.choices[0]?.message.content).toBe(ANSWER);
  });
});
