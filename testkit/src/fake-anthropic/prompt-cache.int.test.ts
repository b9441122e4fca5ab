// The per-account prompt cache, seen through the usage the API reports.
import { createFakeAnthropic } from './create-fake-anthropic.js';
import { fakeMessagesBody, fakeOAuthHeaders, postFakeMessages } from './test-support.js';
import type { FakeAnthropic } from './types.js';

interface Usage {
  input_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
  cache_creation: { ephemeral_5m_input_tokens: number; ephemeral_1h_input_tokens: number };
}

let fake: FakeAnthropic;
let url: string;

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1' }, { id: 'max-2' }] });
  url = await fake.start();
});

afterAll(() => fake.stop());

const ephemeral = (ttl?: '1h') => ({ type: 'ephemeral', ...(ttl ? { ttl } : {}) });

// system 100 tokens (cached), first user turn 50 tokens (cached), then an uncached 5-token tail.
function conversation(label: string, turns: string[], ttl?: '1h') {
  const messages = turns.map((text, i) => ({
    role: i % 2 === 0 ? 'user' : 'assistant',
    content: [{ type: 'text', text, ...(i === turns.length - 2 ? { cache_control: ephemeral() } : {}) }],
  }));
  return fakeMessagesBody({
    system: [{ type: 'text', text: label.padEnd(400, '.'), cache_control: ephemeral(ttl) }],
    messages,
  });
}

async function usageOf(account: string, body: unknown, stream = false): Promise<Usage> {
  const headers = fakeOAuthHeaders(fake.issueAccessToken(account));
  const response = await postFakeMessages(url, headers, stream ? { ...(body as object), stream: true } : body);
  if (!stream) return ((await response.json()) as { usage: Usage }).usage;
  const start = (await response.text()).split('\n').find((line) => line.includes('"message_start"')) ?? '';
  return (JSON.parse(start.slice('data: '.length)) as { message: { usage: Usage } }).message.usage;
}

const TURN_1 = ['u'.repeat(200), 'tail'.repeat(5)];

test('the same prefix twice on one account: a write, then a read of the same size', async () => {
  const body = conversation('same-prefix', TURN_1);
  const first = await usageOf('max-1', body);
  expect(first).toMatchObject({ cache_creation_input_tokens: 150, cache_read_input_tokens: 0, input_tokens: 5 });
  expect(first.cache_creation.ephemeral_5m_input_tokens).toBe(150);

  const second = await usageOf('max-1', body, true);
  expect(second).toMatchObject({ cache_creation_input_tokens: 0, cache_read_input_tokens: 150, input_tokens: 5 });
});

test('another account sending the same conversation gets no cache read', async () => {
  const body = conversation('isolated', TURN_1);
  await usageOf('max-1', body);
  const other = await usageOf('max-2', body);
  expect(other).toMatchObject({ cache_creation_input_tokens: 150, cache_read_input_tokens: 0 });
  expect(fake.usageTotals('max-2')).toMatchObject({ cacheCreation: 150, cacheRead: 0, requests: 1 });
});

test('a growing conversation reads the earlier prefix though its breakpoint moved', async () => {
  await usageOf('max-1', conversation('growing', TURN_1));
  const turn2 = [...TURN_1, 'a'.repeat(80), 'v'.repeat(120), 'next'.repeat(5)];
  const usage = await usageOf('max-1', conversation('growing', turn2));
  // Read: system + first user turn (150), found by the lookback; write: the old 5-token tail + 20 + 30 new tokens.
  expect(usage).toMatchObject({ cache_read_input_tokens: 150, cache_creation_input_tokens: 55, input_tokens: 5 });
});

test('a 1h breakpoint is reported as ephemeral_1h and a changed system prompt misses', async () => {
  const usage = await usageOf('max-1', conversation('hour', TURN_1, '1h'));
  expect(usage.cache_creation).toEqual({ ephemeral_5m_input_tokens: 50, ephemeral_1h_input_tokens: 100 });
  const changed = await usageOf('max-1', conversation('hour-changed', TURN_1, '1h'));
  expect(changed.cache_read_input_tokens).toBe(0);
});
