// Tool use through the official SDK: one call by default, every tool with `parallelToolUse`, and a round trip
// (call → tool_result → text answer).
import { Anthropic } from '@anthropic-ai/sdk';
import { OAUTH_BETA } from './auth.js';
import { createFakeAnthropic } from './create-fake-anthropic.js';
import { FAKE_MODEL } from './test-support.js';
import type { FakeAnthropic } from './types.js';

const WEATHER = {
  name: 'get_weather',
  input_schema: { type: 'object' as const, properties: { city: { type: 'string' } }, required: ['city'] },
};
const TIME = {
  name: 'get_time',
  input_schema: { type: 'object' as const, properties: { zone: { enum: ['UTC', 'CET'] } } },
};
const QUESTION = { role: 'user' as const, content: 'Weather and time in Paris?' };

let fake: FakeAnthropic;
let client: Anthropic;

beforeAll(async () => {
  fake = createFakeAnthropic({ timing: { textDeltas: 2 } });
  const url = await fake.start();
  client = new Anthropic({
    baseURL: url,
    authToken: fake.issueAccessToken('acct-1'),
    apiKey: null,
    defaultHeaders: { 'anthropic-beta': OAUTH_BETA },
    maxRetries: 0,
  });
});

afterEach(() => fake.setTiming({ parallelToolUse: false }));
afterAll(() => fake.stop());

const toolUses = (message: Anthropic.Message) =>
  message.content.filter((block): block is Anthropic.ToolUseBlock => block.type === 'tool_use');

test('by default tool_choice any calls only the first tool', async () => {
  const message = await client.messages.create({
    model: FAKE_MODEL,
    max_tokens: 512,
    tools: [WEATHER, TIME],
    tool_choice: { type: 'any' },
    messages: [QUESTION],
  });
  expect(toolUses(message).map((block) => block.name)).toEqual(['get_weather']);
  expect(message.stop_reason).toBe('tool_use');
});

test('parallelToolUse calls every tool in order, streamed as separate blocks', async () => {
  fake.setTiming({ parallelToolUse: true });
  const stream = client.messages.stream({
    model: FAKE_MODEL,
    max_tokens: 512,
    tools: [WEATHER, TIME],
    tool_choice: { type: 'any' },
    messages: [QUESTION],
  });
  const starts: { index: number; name: string }[] = [];
  stream.on('streamEvent', (event) => {
    if (event.type === 'content_block_start' && event.content_block.type === 'tool_use') {
      starts.push({ index: event.index, name: event.content_block.name });
    }
  });
  const message = await stream.finalMessage();
  expect(message.content.map((block) => block.type)).toEqual(['text', 'tool_use', 'tool_use']);
  expect(toolUses(message).map((block) => [block.name, block.input])).toEqual([
    ['get_weather', { city: 'fake' }],
    ['get_time', { zone: 'UTC' }],
  ]);
  expect(new Set(toolUses(message).map((block) => block.id)).size).toBe(2);
  expect(starts).toEqual([
    { index: 1, name: 'get_weather' },
    { index: 2, name: 'get_time' },
  ]);
  expect(message.stop_reason).toBe('tool_use');
});

test('parallelToolUse still calls one tool when the request disables parallel tool use, or names a tool', async () => {
  fake.setTiming({ parallelToolUse: true });
  const disabled = await client.messages.create({
    model: FAKE_MODEL,
    max_tokens: 512,
    tools: [WEATHER, TIME],
    tool_choice: { type: 'any', disable_parallel_tool_use: true },
    messages: [QUESTION],
  });
  expect(toolUses(disabled).map((block) => block.name)).toEqual(['get_weather']);
  const named = await client.messages.create({
    model: FAKE_MODEL,
    max_tokens: 512,
    tools: [WEATHER, TIME],
    tool_choice: { type: 'tool', name: 'get_time' },
    messages: [QUESTION],
  });
  expect(toolUses(named).map((block) => block.name)).toEqual(['get_time']);
});

test('a round trip: the tool_result sent back with tool_choice auto gets a text answer', async () => {
  const first = await client.messages.create({
    model: FAKE_MODEL,
    max_tokens: 512,
    tools: [WEATHER],
    tool_choice: { type: 'any' },
    messages: [QUESTION],
  });
  const [call] = toolUses(first);
  if (!call) throw new Error('no tool_use');
  const second = await client.messages.create({
    model: FAKE_MODEL,
    max_tokens: 512,
    tools: [WEATHER],
    tool_choice: { type: 'auto' },
    messages: [
      QUESTION,
      { role: 'assistant', content: first.content },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: call.id, content: '18 °C, clear' }] },
    ],
  });
  expect(second.stop_reason).toBe('end_turn');
  expect(second.content.map((block) => block.type)).toEqual(['text']);
});
