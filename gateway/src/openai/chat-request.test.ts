// The request translation against docs/OPENAI.md: each row of "Request: Chat Completions → Messages" and each rule
// of "Messages", with whole translated bodies written by hand from the doc, and the param/problem of each refusal.
import { AppError } from '@switchyard/shared';
import { translateChatRequest } from './chat-request.js';
import { ChatFieldError, type ModelAliases } from './types.js';

const MODEL = 'claude-sonnet-4-5';
const aliases: ModelAliases = new Map([['gpt-4o', MODEL]]);
const HI = [{ role: 'user', content: 'Hi' }];
/** What a minimal request (`model` and one user message) becomes. */
const BASE = { model: MODEL, max_tokens: 4096, messages: [{ role: 'user', content: 'Hi' }] };

function translate(fields: Record<string, unknown>, messages: unknown = HI) {
  return translateChatRequest({ model: MODEL, messages, ...fields }, { aliases });
}

function bodyOf(fields: Record<string, unknown>, messages: unknown = HI) {
  return translate(fields, messages).body;
}

function messagesOf(messages: unknown) {
  return bodyOf({}, messages).messages;
}

function refusalOfBody(body: unknown): { param: string; problem: string; message: string } {
  try {
    translateChatRequest(body, { aliases });
  } catch (err) {
    if (err instanceof ChatFieldError) return { param: err.param, problem: err.problem, message: err.message };
    throw err;
  }
  throw new Error('expected a refusal');
}

function refusal(fields: Record<string, unknown>, messages: unknown = HI) {
  return refusalOfBody({ model: MODEL, messages, ...fields });
}

function refusalOfMessages(messages: unknown) {
  return refusal({}, messages);
}

describe('translateChatRequest: the body', () => {
  it('refuses a body that is not a JSON object with invalid_json', () => {
    for (const body of [null, [], 'text', 3]) {
      const err = (() => {
        try {
          translateChatRequest(body, { aliases });
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(AppError);
      expect(err).not.toBeInstanceOf(ChatFieldError);
      expect(err).toMatchObject({ code: 'invalid_json', status: 400, message: 'Request body must be a JSON object' });
    }
  });

  it('makes a ChatFieldError a 400 bad_request', () => {
    const err = new ChatFieldError('n', 'invalid_value', 'n: x');
    expect(err).toMatchObject({ code: 'bad_request', status: 400, anthropicType: 'invalid_request_error' });
  });

  it('translates a minimal request: model, default max_tokens, the message; not a stream', () => {
    expect(translate({})).toEqual({ body: BASE, stream: false, includeUsage: false });
  });

  it('refuses an unknown top-level field as unsupported_parameter naming it', () => {
    expect(refusal({ temprature: 0.5 })).toMatchObject({ param: 'temprature', problem: 'unsupported_parameter' });
    expect(refusal({ top_k: null })).toMatchObject({ param: 'top_k', problem: 'unsupported_parameter' });
    expect(refusal({ constructor: 1 })).toMatchObject({ param: 'constructor', problem: 'unsupported_parameter' });
  });

  it('refuses JSON’s own __proto__ key like any unknown field', () => {
    const body = JSON.parse(
      `{"model":"${MODEL}","messages":[{"role":"user","content":"Hi"}],"__proto__":{"n":2}}`,
    ) as unknown;
    expect(refusalOfBody(body)).toMatchObject({ param: '__proto__', problem: 'unsupported_parameter' });
  });
});

describe('model', () => {
  it('passes a Claude model id through and applies MODEL_ALIASES', () => {
    expect(bodyOf({ model: 'gpt-4o' })).toEqual(BASE);
    expect(bodyOf({ model: 'gpt-unknown' })).toEqual({ ...BASE, model: 'gpt-unknown' });
  });

  it('is required and must be a string', () => {
    expect(refusalOfBody({ messages: HI })).toMatchObject({ param: 'model', problem: 'missing_required_parameter' });
    expect(refusal({ model: '' })).toMatchObject({ param: 'model', problem: 'missing_required_parameter' });
    expect(refusal({ model: 4 })).toMatchObject({ param: 'model', problem: 'invalid_type' });
  });
});

describe('max_tokens and max_completion_tokens', () => {
  it('takes either field, or both when equal', () => {
    expect(bodyOf({ max_tokens: 100 })).toEqual({ ...BASE, max_tokens: 100 });
    expect(bodyOf({ max_completion_tokens: 200 })).toEqual({ ...BASE, max_tokens: 200 });
    expect(bodyOf({ max_tokens: 300, max_completion_tokens: 300 })).toEqual({ ...BASE, max_tokens: 300 });
    expect(bodyOf({ max_tokens: null })).toEqual(BASE);
  });

  it('refuses two different values, and anything but a positive integer', () => {
    expect(refusal({ max_tokens: 300, max_completion_tokens: 400 })).toMatchObject({
      param: 'max_tokens',
      problem: 'invalid_value',
    });
    expect(refusal({ max_tokens: 0 })).toMatchObject({ param: 'max_tokens', problem: 'invalid_value' });
    expect(refusal({ max_completion_tokens: 1.5 })).toMatchObject({
      param: 'max_completion_tokens',
      problem: 'invalid_value',
    });
    expect(refusal({ max_completion_tokens: '100' })).toMatchObject({
      param: 'max_completion_tokens',
      problem: 'invalid_type',
    });
  });
});

describe('reasoning_effort', () => {
  it('asks for thinking with each level’s budget, added to the default max_tokens', () => {
    const levels = { minimal: 1024, low: 2048, medium: 8192, high: 16384, xhigh: 32000 };
    for (const [effort, budget] of Object.entries(levels)) {
      expect(bodyOf({ reasoning_effort: effort })).toEqual({
        ...BASE,
        max_tokens: 4096 + budget,
        thinking: { type: 'enabled', budget_tokens: budget },
      });
    }
  });

  it('sends no thinking for "none"', () => {
    expect(bodyOf({ reasoning_effort: 'none' })).toEqual(BASE);
    expect(bodyOf({ reasoning_effort: 'none', max_tokens: 10 })).toEqual({ ...BASE, max_tokens: 10 });
  });

  it('keeps the budget under a client max_tokens, clipped to max_tokens - 1', () => {
    expect(bodyOf({ reasoning_effort: 'low', max_tokens: 10000 })).toEqual({
      ...BASE,
      max_tokens: 10000,
      thinking: { type: 'enabled', budget_tokens: 2048 },
    });
    expect(bodyOf({ reasoning_effort: 'high', max_completion_tokens: 5000 })).toEqual({
      ...BASE,
      max_tokens: 5000,
      thinking: { type: 'enabled', budget_tokens: 4999 },
    });
    expect(bodyOf({ reasoning_effort: 'minimal', max_tokens: 1025 })).toEqual({
      ...BASE,
      max_tokens: 1025,
      thinking: { type: 'enabled', budget_tokens: 1024 },
    });
  });

  it('refuses a max_tokens that leaves under 1024 for thinking, naming the field the client used', () => {
    expect(refusal({ reasoning_effort: 'medium', max_tokens: 1024 })).toMatchObject({
      param: 'max_tokens',
      problem: 'invalid_value',
    });
    expect(refusal({ reasoning_effort: 'low', max_completion_tokens: 500 })).toMatchObject({
      param: 'max_completion_tokens',
      problem: 'invalid_value',
    });
  });

  it('refuses an unknown level or a non-string', () => {
    expect(refusal({ reasoning_effort: 'extreme' })).toMatchObject({
      param: 'reasoning_effort',
      problem: 'invalid_value',
    });
    expect(refusal({ reasoning_effort: 3 })).toMatchObject({ param: 'reasoning_effort', problem: 'invalid_type' });
  });
});

describe('sampling: temperature, top_p, stop', () => {
  it('passes temperature from 0 to 1 and top_p as is', () => {
    expect(bodyOf({ temperature: 0, top_p: 0.9 })).toEqual({ ...BASE, temperature: 0, top_p: 0.9 });
    // top_p 1 cuts nothing: not sent, so a temperature beside it is not refused as a pair by recent models.
    expect(bodyOf({ temperature: 0.7, top_p: 1 })).toEqual({ ...BASE, temperature: 0.7 });
    expect(bodyOf({ temperature: 1 })).toEqual({ ...BASE, temperature: 1 });
    expect(bodyOf({ temperature: null, top_p: null })).toEqual(BASE);
  });

  it('refuses a temperature above 1 (or below 0), and non-numbers', () => {
    expect(refusal({ temperature: 1.2 })).toMatchObject({ param: 'temperature', problem: 'invalid_value' });
    expect(refusal({ temperature: -0.1 })).toMatchObject({ param: 'temperature', problem: 'invalid_value' });
    expect(refusal({ temperature: '0.5' })).toMatchObject({ param: 'temperature', problem: 'invalid_type' });
    expect(refusal({ top_p: '1' })).toMatchObject({ param: 'top_p', problem: 'invalid_type' });
  });

  it('turns stop into stop_sequences: a string becomes one element, null is ignored', () => {
    expect(bodyOf({ stop: 'END' })).toEqual({ ...BASE, stop_sequences: ['END'] });
    expect(bodyOf({ stop: ['a', 'b'] })).toEqual({ ...BASE, stop_sequences: ['a', 'b'] });
    expect(bodyOf({ stop: null })).toEqual(BASE);
    expect(refusal({ stop: ['a', 1] })).toMatchObject({ param: 'stop[1]', problem: 'invalid_type' });
    expect(refusal({ stop: 5 })).toMatchObject({ param: 'stop', problem: 'invalid_type' });
  });
});

describe('stream and stream_options', () => {
  it('sends stream: true only on a stream, with include_usage in the result', () => {
    expect(translate({ stream: true })).toEqual({ body: { ...BASE, stream: true }, stream: true, includeUsage: false });
    expect(translate({ stream: true, stream_options: { include_usage: true } })).toEqual({
      body: { ...BASE, stream: true },
      stream: true,
      includeUsage: true,
    });
    expect(translate({ stream: false, stream_options: { include_usage: true } })).toEqual({
      body: BASE,
      stream: false,
      includeUsage: false,
    });
  });

  it('refuses non-booleans', () => {
    expect(refusal({ stream: 'yes' })).toMatchObject({ param: 'stream', problem: 'invalid_type' });
    expect(refusal({ stream: true, stream_options: { include_usage: 1 } })).toMatchObject({
      param: 'stream_options.include_usage',
      problem: 'invalid_type',
    });
  });
});

describe('user and safety_identifier', () => {
  it('become metadata.user_id, safety_identifier winning', () => {
    expect(bodyOf({ user: 'u-1' })).toEqual({ ...BASE, metadata: { user_id: 'u-1' } });
    expect(bodyOf({ safety_identifier: 's-1' })).toEqual({ ...BASE, metadata: { user_id: 's-1' } });
    expect(bodyOf({ user: 'u-1', safety_identifier: 's-1' })).toEqual({ ...BASE, metadata: { user_id: 's-1' } });
    expect(refusal({ user: 7 })).toMatchObject({ param: 'user', problem: 'invalid_type' });
  });
});

describe('tools, tool_choice and parallel_tool_calls', () => {
  const weather = {
    type: 'function',
    function: {
      name: 'weather',
      description: 'Weather for a city',
      parameters: { type: 'object', properties: { city: { type: 'string' } } },
      strict: true,
    },
  };
  const clock = { type: 'function', function: { name: 'clock' } };
  const tools = [
    {
      name: 'weather',
      description: 'Weather for a city',
      input_schema: { type: 'object', properties: { city: { type: 'string' } } },
    },
    { name: 'clock', input_schema: { type: 'object', properties: {} } },
  ];

  it('maps function tools: parameters to input_schema (an empty object schema without), description only when given', () => {
    expect(bodyOf({ tools: [weather, clock] })).toEqual({ ...BASE, tools });
  });

  it('refuses a tool of another type and a malformed tool', () => {
    expect(refusal({ tools: [weather, { type: 'custom', custom: { name: 'x' } }] })).toMatchObject({
      param: 'tools[1].type',
      problem: 'invalid_value',
    });
    expect(refusal({ tools: [{ function: { name: 'x' } }] })).toMatchObject({
      param: 'tools[0].type',
      problem: 'missing_required_parameter',
    });
    expect(refusal({ tools: [{ type: 'function' }] })).toMatchObject({
      param: 'tools[0].function',
      problem: 'missing_required_parameter',
    });
    expect(refusal({ tools: [{ type: 'function', function: { name: 1 } }] })).toMatchObject({
      param: 'tools[0].function.name',
      problem: 'invalid_type',
    });
    expect(refusal({ tools: [{ type: 'function', function: { name: 'x', parameters: [] } }] })).toMatchObject({
      param: 'tools[0].function.parameters',
      problem: 'invalid_type',
    });
    expect(refusal({ tools: {} })).toMatchObject({ param: 'tools', problem: 'invalid_type' });
  });

  it('maps the four tool_choice forms', () => {
    expect(bodyOf({ tools: [clock], tool_choice: 'auto' })).toEqual({
      ...BASE,
      tools: [tools[1]],
      tool_choice: { type: 'auto' },
    });
    expect(bodyOf({ tools: [clock], tool_choice: 'none' })).toEqual({
      ...BASE,
      tools: [tools[1]],
      tool_choice: { type: 'none' },
    });
    expect(bodyOf({ tools: [clock], tool_choice: 'required' })).toEqual({
      ...BASE,
      tools: [tools[1]],
      tool_choice: { type: 'any' },
    });
    expect(bodyOf({ tools: [clock], tool_choice: { type: 'function', function: { name: 'clock' } } })).toEqual({
      ...BASE,
      tools: [tools[1]],
      tool_choice: { type: 'tool', name: 'clock' },
    });
  });

  it('refuses another tool_choice', () => {
    expect(refusal({ tools: [clock], tool_choice: 'sometimes' })).toMatchObject({
      param: 'tool_choice',
      problem: 'invalid_value',
    });
    expect(refusal({ tools: [clock], tool_choice: { type: 'allowed_tools' } })).toMatchObject({
      param: 'tool_choice',
      problem: 'invalid_value',
    });
    expect(refusal({ tools: [clock], tool_choice: { type: 'function', function: {} } })).toMatchObject({
      param: 'tool_choice.function.name',
      problem: 'missing_required_parameter',
    });
  });

  it('sends no tool_choice and ignores parallel_tool_calls without tools', () => {
    expect(bodyOf({ tool_choice: 'required', parallel_tool_calls: false })).toEqual(BASE);
    expect(bodyOf({ tools: [], tool_choice: 'auto' })).toEqual(BASE);
  });

  it('turns parallel_tool_calls: false into disable_parallel_tool_use, never on "none"', () => {
    expect(bodyOf({ tools: [clock], parallel_tool_calls: false })).toEqual({
      ...BASE,
      tools: [tools[1]],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
    });
    expect(bodyOf({ tools: [clock], tool_choice: 'required', parallel_tool_calls: false })).toEqual({
      ...BASE,
      tools: [tools[1]],
      tool_choice: { type: 'any', disable_parallel_tool_use: true },
    });
    expect(
      bodyOf({
        tools: [clock],
        tool_choice: { type: 'function', function: { name: 'clock' } },
        parallel_tool_calls: false,
      }),
    ).toEqual({
      ...BASE,
      tools: [tools[1]],
      tool_choice: { type: 'tool', name: 'clock', disable_parallel_tool_use: true },
    });
    expect(bodyOf({ tools: [clock], tool_choice: 'none', parallel_tool_calls: false })).toEqual({
      ...BASE,
      tools: [tools[1]],
      tool_choice: { type: 'none' },
    });
  });

  it('sends nothing for parallel_tool_calls true or absent', () => {
    expect(bodyOf({ tools: [clock], parallel_tool_calls: true })).toEqual({ ...BASE, tools: [tools[1]] });
    expect(refusal({ tools: [clock], parallel_tool_calls: 'no' })).toMatchObject({
      param: 'parallel_tool_calls',
      problem: 'invalid_type',
    });
  });
});

describe('response_format', () => {
  it('maps json_schema to output_config, dropping name, description and strict', () => {
    const schema = {
      type: 'object',
      properties: { answer: { type: 'string' } },
      required: ['answer'],
      additionalProperties: false,
    };
    expect(
      bodyOf({
        response_format: {
          type: 'json_schema',
          json_schema: { name: 'answer', description: 'd', strict: true, schema },
        },
      }),
    ).toEqual({
      ...BASE,
      output_config: { format: { type: 'json_schema', schema } },
    });
  });

  it('ignores text, refuses json_object and anything else', () => {
    expect(bodyOf({ response_format: { type: 'text' } })).toEqual(BASE);
    expect(refusal({ response_format: { type: 'json_object' } })).toMatchObject({
      param: 'response_format',
      problem: 'invalid_value',
    });
    expect(refusal({ response_format: { type: 'yaml' } })).toMatchObject({
      param: 'response_format.type',
      problem: 'invalid_value',
    });
    expect(refusal({ response_format: { type: 'json_schema', json_schema: { name: 'x' } } })).toMatchObject({
      param: 'response_format.json_schema.schema',
      problem: 'missing_required_parameter',
    });
  });
});

describe('fields refused or ignored', () => {
  it('ignores n: 1 and refuses any other n', () => {
    expect(bodyOf({ n: 1 })).toEqual(BASE);
    const err = refusal({ n: 2 });
    expect(err).toMatchObject({ param: 'n', problem: 'invalid_value' });
    expect(err.message).toBe('n: only 1 choice per request is supported (Claude returns one)');
    expect(refusal({ n: '1' })).toMatchObject({ param: 'n', problem: 'invalid_type' });
  });

  it('ignores the values that ask for nothing', () => {
    const harmless = {
      logprobs: false,
      top_logprobs: null,
      logit_bias: {},
      presence_penalty: 0,
      frequency_penalty: null,
      modalities: ['text'],
      audio: null,
    };
    expect(bodyOf(harmless)).toEqual(BASE);
    expect(bodyOf({ logprobs: null, logit_bias: null, presence_penalty: null, frequency_penalty: 0 })).toEqual(BASE);
  });

  it('refuses the rest as unsupported_parameter', () => {
    const refused: Array<[string, unknown]> = [
      ['logprobs', true],
      ['top_logprobs', 2],
      ['logit_bias', { '50256': -100 }],
      ['presence_penalty', 0.5],
      ['frequency_penalty', -1],
      ['modalities', ['text', 'audio']],
      ['modalities', ['audio']],
      ['audio', { voice: 'alloy', format: 'mp3' }],
      ['prediction', { type: 'content', content: 'x' }],
      ['web_search_options', {}],
      ['functions', [{ name: 'f' }]],
      ['function_call', 'auto'],
    ];
    for (const [field, value] of refused)
      expect(refusal({ [field]: value })).toMatchObject({ param: field, problem: 'unsupported_parameter' });
  });

  it('ignores seed, store, metadata, service_tier, prompt_cache_key and verbosity', () => {
    const ignored = {
      seed: 7,
      store: true,
      metadata: { app: 'x' },
      service_tier: 'auto',
      prompt_cache_key: 'k',
      verbosity: 'low',
    };
    expect(bodyOf(ignored)).toEqual(BASE);
  });
});

describe('messages: system and developer', () => {
  it('hoists them into system in order, wherever they appear, one block per text part', () => {
    const body = bodyOf({}, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hi' },
      {
        role: 'developer',
        content: [
          { type: 'text', text: 'Use French.' },
          { type: 'text', text: 'No emoji.' },
        ],
      },
      { role: 'assistant', content: 'Bonjour' },
      { role: 'system', content: 'Last rule.' },
      { role: 'user', content: 'Ça va ?' },
    ]);
    expect(body).toEqual({
      model: MODEL,
      max_tokens: 4096,
      system: [
        { type: 'text', text: 'Be brief.' },
        { type: 'text', text: 'Use French.' },
        { type: 'text', text: 'No emoji.' },
        { type: 'text', text: 'Last rule.' },
      ],
      messages: [
        { role: 'user', content: 'Hi' },
        { role: 'assistant', content: 'Bonjour' },
        { role: 'user', content: 'Ça va ?' },
      ],
    });
  });

  it('allows only text parts', () => {
    const image = { type: 'image_url', image_url: { url: 'https://example.com/a.png' } };
    expect(refusalOfMessages([{ role: 'system', content: [image] }, ...HI])).toMatchObject({
      param: 'messages[0].content[0].type',
      problem: 'invalid_value',
    });
    expect(refusalOfMessages([{ role: 'developer' }, ...HI])).toMatchObject({
      param: 'messages[0].content',
      problem: 'missing_required_parameter',
    });
  });
});

describe('messages: user', () => {
  it('keeps string content a string and turns parts into blocks (image detail ignored)', () => {
    const messages = [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'What is in these?' },
          { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'high' } },
          { type: 'image_url', image_url: { url: 'https://example.com/cat.jpg' } },
        ],
      },
    ];
    expect(bodyOf({}, messages)).toEqual({
      model: MODEL,
      max_tokens: 4096,
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is in these?' },
            { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
            { type: 'image', source: { type: 'url', url: 'https://example.com/cat.jpg' } },
          ],
        },
      ],
    });
  });

  it('refuses http URLs and data URLs that are not base64, without quoting them', () => {
    const image = (url: string) => [
      {
        role: 'user',
        content: [
          { type: 'text', text: 'Look' },
          { type: 'image_url', image_url: { url } },
        ],
      },
    ];
    for (const url of [
      'http://example.com/secret.png',
      'data:image/png,rawbytes',
      'data:;base64,AAAA',
      'ftp://x/y.png',
      'data:image/png;base64',
    ]) {
      const err = refusalOfMessages(image(url));
      expect(err).toMatchObject({ param: 'messages[0].content[1].image_url.url', problem: 'invalid_value' });
      expect(err.message).not.toContain(url);
    }
  });

  it('refuses other part types, input_audio and file among them', () => {
    const audio = { type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } };
    expect(refusalOfMessages([{ role: 'user', content: [audio] }])).toMatchObject({
      param: 'messages[0].content[0].type',
      problem: 'invalid_value',
    });
    const file = { type: 'file', file: { file_id: 'f' } };
    expect(refusalOfMessages([{ role: 'user', content: [{ type: 'text', text: 'x' }, file] }])).toMatchObject({
      param: 'messages[0].content[1].type',
    });
  });

  it('checks the types of what it reads', () => {
    expect(refusalOfMessages([{ role: 'user', content: 5 }])).toMatchObject({
      param: 'messages[0].content',
      problem: 'invalid_type',
    });
    expect(refusalOfMessages([{ role: 'user', content: [{ type: 'text', text: 5 }] }])).toMatchObject({
      param: 'messages[0].content[0].text',
      problem: 'invalid_type',
    });
    expect(
      refusalOfMessages([{ role: 'user', content: [{ type: 'image_url', image_url: 'https://x' }] }]),
    ).toMatchObject({
      param: 'messages[0].content[0].image_url',
      problem: 'invalid_type',
    });
    expect(refusalOfMessages([{ role: 'user', content: [{ text: 'x' }] }])).toMatchObject({
      param: 'messages[0].content[0].type',
      problem: 'missing_required_parameter',
    });
    expect(refusalOfMessages([{ role: 'user' }])).toMatchObject({
      param: 'messages[0].content',
      problem: 'missing_required_parameter',
    });
    expect(refusalOfMessages(['Hi'])).toMatchObject({ param: 'messages[0]', problem: 'invalid_type' });
    expect(refusalOfMessages([{ content: 'Hi' }])).toMatchObject({
      param: 'messages[0].role',
      problem: 'missing_required_parameter',
    });
  });
});

describe('messages: assistant', () => {
  const call = (id: string, name: string, args: string) => ({
    id,
    type: 'function',
    function: { name, arguments: args },
  });
  const withCalls = (content: unknown, calls: unknown[]) => [
    { role: 'user', content: 'Weather?' },
    { role: 'assistant', content, tool_calls: calls },
  ];

  it('keeps string content a string without tool_calls, and drops refusal parts and name', () => {
    expect(messagesOf([...HI, { role: 'assistant', content: 'Hello', name: 'bot' }])).toEqual([
      ...HI,
      { role: 'assistant', content: 'Hello' },
    ]);
    const parts = [
      { type: 'text', text: 'Hel' },
      { type: 'refusal', refusal: 'no' },
      { type: 'text', text: '' },
      { type: 'text', text: 'lo' },
    ];
    expect(messagesOf([...HI, { role: 'assistant', content: parts, tool_calls: [] }])).toEqual([
      ...HI,
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Hel' },
          { type: 'text', text: 'lo' },
        ],
      },
    ]);
  });

  it('puts the text first, then one tool_use per call in order', () => {
    const calls = [call('call_1', 'weather', '{"city":"Paris"}'), call('call_2', 'weather', '{"city":"Rome"}')];
    expect(messagesOf(withCalls('Checking.', calls))).toEqual([
      { role: 'user', content: 'Weather?' },
      {
        role: 'assistant',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
          { type: 'tool_use', id: 'call_2', name: 'weather', input: { city: 'Rome' } },
        ],
      },
    ]);
  });

  it('drops empty or null text beside tool calls, and reads empty arguments as {}', () => {
    const expected = [
      { role: 'user', content: 'Weather?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'clock', input: {} }] },
    ];
    expect(messagesOf(withCalls(null, [call('call_1', 'clock', '')]))).toEqual(expected);
    expect(messagesOf(withCalls('', [call('call_1', 'clock', '{}')]))).toEqual(expected);
  });

  it('refuses arguments that are not JSON, or JSON that is not an object, without quoting them', () => {
    const bad = refusalOfMessages(
      withCalls(null, [call('call_1', 'clock', '{}'), call('call_2', 'weather', '{"city": "Par')]),
    );
    expect(bad).toMatchObject({ param: 'messages[1].tool_calls[1].function.arguments', problem: 'invalid_value' });
    expect(bad.message).not.toContain('Par');
    for (const args of ['[1,2]', '"Paris"', 'null', '42']) {
      expect(refusalOfMessages(withCalls(null, [call('call_1', 'weather', args)]))).toMatchObject({
        param: 'messages[1].tool_calls[0].function.arguments',
        problem: 'invalid_value',
      });
    }
    expect(
      refusalOfMessages(withCalls(null, [call('call_1', 'weather', { city: 'Paris' } as unknown as string)])),
    ).toMatchObject({
      param: 'messages[1].tool_calls[0].function.arguments',
      problem: 'invalid_type',
    });
  });

  it('refuses malformed tool calls', () => {
    expect(refusalOfMessages(withCalls(null, [{ type: 'custom', id: 'c', custom: {} }]))).toMatchObject({
      param: 'messages[1].tool_calls[0].type',
      problem: 'invalid_value',
    });
    expect(
      refusalOfMessages(withCalls(null, [{ type: 'function', function: { name: 'x', arguments: '' } }])),
    ).toMatchObject({
      param: 'messages[1].tool_calls[0].id',
      problem: 'missing_required_parameter',
    });
    expect(refusalOfMessages(withCalls(null, [{ id: 'c', type: 'function' }]))).toMatchObject({
      param: 'messages[1].tool_calls[0].function',
      problem: 'missing_required_parameter',
    });
  });

  it('refuses an assistant message with neither text nor tool calls', () => {
    for (const content of [null, '', [], [{ type: 'refusal', refusal: 'no' }]]) {
      expect(refusalOfMessages([...HI, { role: 'assistant', content }])).toMatchObject({
        param: 'messages[1].content',
        problem: 'missing_required_parameter',
      });
    }
    expect(
      refusalOfMessages([
        ...HI,
        { role: 'assistant', content: [{ type: 'image_url', image_url: { url: 'https://x' } }] },
      ]),
    ).toMatchObject({
      param: 'messages[1].content[0].type',
      problem: 'invalid_value',
    });
  });
});

describe('messages: prompt-cache breakpoints the client marks', () => {
  it("carries a part's cache_control to its block (system, user text and image, assistant text, tool text)", () => {
    const mark = { cache_control: { type: 'ephemeral' } };
    const hour = { cache_control: { type: 'ephemeral', ttl: '1h' } };
    const image = { type: 'image_url', image_url: { url: 'https://example.com/a.png' }, ...mark };
    const body = bodyOf({}, [
      { role: 'system', content: [{ type: 'text', text: 'Rules.', ...hour }] },
      { role: 'user', content: [{ type: 'text', text: 'Look.', ...mark }, image] },
      { role: 'assistant', content: [{ type: 'text', text: 'Seen.', ...mark }] },
      { role: 'user', content: 'More?' },
    ]);
    expect(body).toEqual({
      model: MODEL,
      max_tokens: 4096,
      system: [{ type: 'text', text: 'Rules.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'Look.', cache_control: { type: 'ephemeral' } },
            {
              type: 'image',
              source: { type: 'url', url: 'https://example.com/a.png' },
              cache_control: { type: 'ephemeral' },
            },
          ],
        },
        { role: 'assistant', content: [{ type: 'text', text: 'Seen.', cache_control: { type: 'ephemeral' } }] },
        { role: 'user', content: 'More?' },
      ],
    });
  });

  it('refuses a cache_control Claude would not take, naming it', () => {
    const part = (control: unknown) => [
      { role: 'user', content: [{ type: 'text', text: 'x', cache_control: control }] },
    ];
    expect(refusalOfMessages(part({ type: 'persistent' }))).toMatchObject({
      param: 'messages[0].content[0].cache_control.type',
      problem: 'invalid_value',
    });
    expect(refusalOfMessages(part({ type: 'ephemeral', ttl: '1d' }))).toMatchObject({
      param: 'messages[0].content[0].cache_control.ttl',
      problem: 'invalid_value',
    });
    expect(refusalOfMessages(part('yes'))).toMatchObject({
      param: 'messages[0].content[0].cache_control',
      problem: 'invalid_type',
    });
  });
});

describe('messages: tool results and merging', () => {
  const calls = [
    { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Paris"}' } },
    { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
  ];
  const assistant = {
    role: 'assistant',
    content: [
      { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'call_2', name: 'weather', input: { city: 'Rome' } },
    ],
  };

  it('turns a tool message into a user tool_result, string content as sent, text parts as blocks', () => {
    const messages = [
      HI[0],
      { role: 'assistant', content: null, tool_calls: calls.slice(0, 1) },
      { role: 'tool', tool_call_id: 'call_1', content: [{ type: 'text', text: '18°C' }] },
    ];
    expect(messagesOf(messages)).toEqual([
      HI[0],
      { role: 'assistant', content: [assistant.content[0]] },
      {
        role: 'user',
        content: [{ type: 'tool_result', tool_use_id: 'call_1', content: [{ type: 'text', text: '18°C' }] }],
      },
    ]);
  });

  it('merges parallel tool results and the user message after them into one user turn, results first', () => {
    const messages = [
      HI[0],
      { role: 'assistant', tool_calls: calls },
      { role: 'tool', tool_call_id: 'call_1', content: '18°C' },
      { role: 'tool', tool_call_id: 'call_2', content: '24°C' },
      { role: 'user', content: 'And tomorrow?' },
    ];
    expect(bodyOf({}, messages)).toEqual({
      model: MODEL,
      max_tokens: 4096,
      messages: [
        { role: 'user', content: 'Hi' },
        assistant,
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: '18°C' },
            { type: 'tool_result', tool_use_id: 'call_2', content: '24°C' },
            { type: 'text', text: 'And tomorrow?' },
          ],
        },
      ],
    });
  });

  it('merges consecutive user messages and consecutive assistant messages, strings becoming text blocks', () => {
    const messages = [
      { role: 'user', content: 'One' },
      { role: 'system', content: 'Between.' },
      { role: 'user', content: [{ type: 'text', text: 'Two' }] },
      { role: 'assistant', content: 'A' },
      { role: 'assistant', content: 'B' },
    ];
    expect(bodyOf({}, messages)).toEqual({
      model: MODEL,
      max_tokens: 4096,
      system: [{ type: 'text', text: 'Between.' }],
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'One' },
            { type: 'text', text: 'Two' },
          ],
        },
        {
          role: 'assistant',
          content: [
            { type: 'text', text: 'A' },
            { type: 'text', text: 'B' },
          ],
        },
      ],
    });
  });

  it('merges a run of 100,000 tool results and 150,000 system parts in one pass (a 1.5 MB body, not minutes of CPU)', () => {
    // A copy of the run per merge made this quadratic: 30,000 results held the event loop for 32 s. Linear, it is
    // milliseconds; quadratic, this test would run past jest's timeout.
    const results = Array.from({ length: 100_000 }, (_, i) => ({
      role: 'tool',
      tool_call_id: `call_${i}`,
      content: 'x',
    }));
    const parts = Array.from({ length: 150_000 }, () => ({ type: 'text', text: 's' }));
    const body = bodyOf({}, [
      { role: 'system', content: parts },
      HI[0],
      { role: 'assistant', content: 'A' },
      ...results,
    ]) as { system: unknown[]; messages: { content: unknown[] }[] };
    expect(body.system).toHaveLength(150_000);
    expect(body.messages).toHaveLength(3);
    expect(body.messages[2]!.content).toHaveLength(100_000);
    expect(body.messages[2]!.content[99_999]).toEqual({ type: 'tool_result', tool_use_id: 'call_99999', content: 'x' });
  });

  it('refuses a tool message without tool_call_id or content, or with non-text parts', () => {
    expect(refusalOfMessages([...HI, { role: 'tool', content: 'x' }])).toMatchObject({
      param: 'messages[1].tool_call_id',
      problem: 'missing_required_parameter',
    });
    expect(refusalOfMessages([...HI, { role: 'tool', tool_call_id: 'c' }])).toMatchObject({
      param: 'messages[1].content',
      problem: 'missing_required_parameter',
    });
    const image = { type: 'image_url', image_url: { url: 'https://x' } };
    expect(refusalOfMessages([...HI, { role: 'tool', tool_call_id: 'c', content: [image] }])).toMatchObject({
      param: 'messages[1].content[0].type',
      problem: 'invalid_value',
    });
  });
});

describe('messages: roles and shape', () => {
  it('refuses the legacy function role and any other role', () => {
    expect(refusalOfMessages([...HI, { role: 'function', name: 'f', content: '1' }])).toMatchObject({
      param: 'messages[1].role',
      problem: 'invalid_value',
    });
    expect(refusalOfMessages([{ role: 'narrator', content: 'x' }])).toMatchObject({
      param: 'messages[0].role',
      problem: 'invalid_value',
    });
    expect(refusalOfMessages([{ role: 1, content: 'x' }])).toMatchObject({
      param: 'messages[0].role',
      problem: 'invalid_type',
    });
  });

  it('requires a non-empty messages array', () => {
    expect(refusalOfBody({ model: MODEL })).toMatchObject({ param: 'messages', problem: 'missing_required_parameter' });
    expect(refusalOfMessages([])).toMatchObject({ param: 'messages', problem: 'invalid_value' });
    expect(refusalOfMessages({ role: 'user', content: 'Hi' })).toMatchObject({
      param: 'messages',
      problem: 'invalid_type',
    });
  });
});

describe('everything at once', () => {
  it('translates a full streaming tool request into exactly the fields the doc lists', () => {
    const result = translateChatRequest(
      {
        model: 'gpt-4o',
        messages: [
          { role: 'developer', content: 'You are terse.' },
          { role: 'user', content: 'Weather in Paris?' },
        ],
        max_completion_tokens: 20000,
        reasoning_effort: 'medium',
        temperature: 1,
        top_p: 0.95,
        stop: 'STOP',
        stream: true,
        stream_options: { include_usage: true },
        user: 'u-9',
        tools: [
          {
            type: 'function',
            function: { name: 'weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
          },
        ],
        tool_choice: 'auto',
        parallel_tool_calls: false,
        response_format: { type: 'text' },
        n: 1,
        seed: 1,
        store: false,
      },
      { aliases },
    );
    expect(result).toEqual({
      body: {
        model: MODEL,
        max_tokens: 20000,
        system: [{ type: 'text', text: 'You are terse.' }],
        messages: [{ role: 'user', content: 'Weather in Paris?' }],
        tools: [{ name: 'weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
        tool_choice: { type: 'auto', disable_parallel_tool_use: true },
        temperature: 1,
        top_p: 0.95,
        stop_sequences: ['STOP'],
        stream: true,
        metadata: { user_id: 'u-9' },
        thinking: { type: 'enabled', budget_tokens: 8192 },
      },
      stream: true,
      includeUsage: true,
    });
  });

  it('never quotes prompt text in a refusal', () => {
    const secret = 'my-secret-prompt-text';
    const errs = [
      refusalOfMessages([{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: secret } }] }]),
      refusalOfMessages([
        { role: 'user', content: secret },
        {
          role: 'assistant',
          content: secret,
          tool_calls: [{ id: 'c', type: 'function', function: { name: 'f', arguments: secret } }],
        },
      ]),
      refusalOfMessages([{ role: secret, content: secret }]),
    ];
    for (const err of errs) expect(err.message).not.toContain(secret);
  });
});
