// The official SDK drives the fake: if the SDK accepts its answers, so will the gateway's clients.
import { Anthropic } from '@anthropic-ai/sdk';
import { OAUTH_BETA } from './auth.js';
import { createFakeAnthropic } from './create-fake-anthropic.js';
import { expectedTokens, FAKE_MODEL } from './test-support.js';
import type { FakeAnthropic } from './types.js';

const SYSTEM = 's'.repeat(400); // 100 tokens
const QUESTION = 'q'.repeat(40); // 10 tokens
const ANSWER = 'The weather tool will know. Let me call it for you right now.';
const WEATHER_TOOL = {
  name: 'get_weather',
  description: 'Weather for a city',
  input_schema: {
    type: 'object' as const,
    properties: { city: { type: 'string' }, days: { type: 'integer' }, unit: { enum: ['c', 'f'] } },
    required: ['city'],
  },
};

let fake: FakeAnthropic;
let url: string;

beforeAll(async () => {
  fake = createFakeAnthropic({
    accounts: [{ id: 'max-1' }, { id: 'console-1', kind: 'api_key' }],
    timing: { textDeltas: 5, responseText: ANSWER },
  });
  url = await fake.start();
});

afterAll(() => fake.stop());

function oauthClient(): Anthropic {
  return new Anthropic({
    baseURL: url,
    authToken: fake.issueAccessToken('max-1'),
    apiKey: null,
    defaultHeaders: { 'anthropic-beta': OAUTH_BETA },
    maxRetries: 0,
  });
}

function contentTokens(content: Anthropic.ContentBlock[]): number {
  return content.reduce((sum, block) => {
    if (block.type === 'thinking') return sum + expectedTokens(block.thinking);
    if (block.type === 'text') return sum + expectedTokens(block.text);
    if (block.type === 'tool_use') return sum + expectedTokens(JSON.stringify(block.input));
    return sum;
  }, 0);
}

test('messages.create answers a plain request with the configured text and exact usage', async () => {
  const before = fake.usageTotals('max-1');
  const message = await oauthClient().messages.create({
    model: FAKE_MODEL,
    max_tokens: 512,
    system: SYSTEM,
    messages: [{ role: 'user', content: QUESTION }],
  });

  expect(message.type).toBe('message');
  expect(message.id).toMatch(/^msg_/);
  expect(message.content).toEqual([{ type: 'text', text: ANSWER }]);
  expect(message.stop_reason).toBe('end_turn');
  expect(message.usage.input_tokens).toBe(110);
  expect(message.usage.output_tokens).toBe(expectedTokens(ANSWER));
  expect(message.usage.cache_read_input_tokens).toBe(0);
  const after = fake.usageTotals('max-1');
  expect(after.input - before.input).toBe(110);
  expect(after.output - before.output).toBe(expectedTokens(ANSWER));
  expect(after.requests - before.requests).toBe(1);
});

test('messages.stream yields thinking with a signature, text and a parsed tool_use', async () => {
  const stream = oauthClient().messages.stream({
    model: FAKE_MODEL,
    max_tokens: 2048,
    system: SYSTEM,
    thinking: { type: 'enabled', budget_tokens: 1024 },
    tools: [WEATHER_TOOL],
    tool_choice: { type: 'any' },
    messages: [{ role: 'user', content: QUESTION }],
  });
  const texts: string[] = [];
  stream.on('text', (delta) => texts.push(delta));
  const message = await stream.finalMessage();

  expect(message.content.map((block) => block.type)).toEqual(['thinking', 'text', 'tool_use']);
  const [thinking, text, toolUse] = message.content;
  expect(thinking?.type === 'thinking' && thinking.thinking.length > 0 && thinking.signature.length > 0).toBe(true);
  expect(text).toEqual({ type: 'text', text: ANSWER });
  expect(texts).toHaveLength(5);
  expect(toolUse).toMatchObject({ type: 'tool_use', name: 'get_weather', input: { city: 'fake', days: 1, unit: 'c' } });
  expect(toolUse?.type === 'tool_use' && toolUse.id).toMatch(/^toolu_/);
  expect(message.stop_reason).toBe('tool_use');
  const toolTokens = expectedTokens(JSON.stringify(WEATHER_TOOL));
  expect(message.usage.input_tokens).toBe(110 + toolTokens);
  expect(message.usage.output_tokens).toBe(contentTokens(message.content));
});

test('adaptive thinking also produces a thinking block; named tool_choice picks that tool', async () => {
  const other = { name: 'other_tool', input_schema: { type: 'object' as const, properties: {} } };
  const message = await oauthClient()
    .messages.stream({
      model: FAKE_MODEL,
      max_tokens: 2048,
      thinking: { type: 'adaptive' },
      tools: [other, WEATHER_TOOL],
      tool_choice: { type: 'tool', name: 'get_weather' },
      messages: [{ role: 'user', content: 'weather?' }],
    })
    .finalMessage();
  expect(message.content[0]?.type).toBe('thinking');
  expect(message.content.at(-1)).toMatchObject({ type: 'tool_use', name: 'get_weather' });
});

test('max_tokens smaller than the answer truncates it and stops with max_tokens', async () => {
  const message = await oauthClient().messages.create({
    model: FAKE_MODEL,
    max_tokens: 3,
    messages: [{ role: 'user', content: 'hi' }],
  });
  expect(message.stop_reason).toBe('max_tokens');
  expect(message.usage.output_tokens).toBeLessThanOrEqual(3);
  expect(ANSWER.startsWith(message.content[0]?.type === 'text' ? message.content[0].text : '?')).toBe(true);
});

test('an API-key account works through the SDK and gets classic rate-limit headers', async () => {
  const client = new Anthropic({ baseURL: url, apiKey: fake.account('console-1').apiKey ?? '', maxRetries: 0 });
  const { data, response } = await client.messages
    .create({ model: FAKE_MODEL, max_tokens: 100, messages: [{ role: 'user', content: 'hi' }] })
    .withResponse();

  expect(data.content[0]).toEqual({ type: 'text', text: ANSWER });
  expect(response.headers.get('anthropic-ratelimit-requests-limit')).toBe('4000');
  expect(response.headers.get('anthropic-ratelimit-unified-status')).toBeNull();
  expect(fake.requests.at(-1)).toMatchObject({ accountId: 'console-1', apiKey: fake.account('console-1').apiKey });
  expect(fake.usageTotals('console-1').requests).toBe(1);
});

test('count_tokens and models.list answer in the SDK shapes', async () => {
  const client = oauthClient();
  const counted = await client.messages.countTokens({
    model: FAKE_MODEL,
    system: SYSTEM,
    messages: [{ role: 'user', content: QUESTION }],
  });
  expect(counted.input_tokens).toBe(110);

  const models = await client.models.list();
  const ids = models.data.map((model) => model.id);
  expect(ids.length).toBeGreaterThan(2);
  expect(ids.every((id) => id.startsWith('claude-'))).toBe(true);
});
