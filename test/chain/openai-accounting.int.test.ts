// A multi-turn conversation from the `openai` SDK across three node-agents: stickiness keeps it on one account
// (keyed by the translated system prompt and first user turn), and the usage worker counts it exactly as the fake
// upstream reported it, labelled with its route (docs/OPENAI.md, "Accounting").
import OpenAI from 'openai';
import type { ChatCompletionChunk, ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { testRedisUrl, type UsageTotals, startStack, type Stack, waitFor } from '@switchyard/testkit';
import type { UsageReport } from '../../gateway/src/admin/index.js';

jest.setTimeout(120_000);

const MODEL = 'claude-sonnet-4-6';
const TURNS = 5;
/** Turns sent with stream: true (and include_usage). */
const STREAMED = new Set([2, 4]);

let chain: Stack;

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), worker: true, nodeIds: ['node-a', 'node-b', 'node-c'] });
  await chain.waitReady();
});
afterAll(async () => {
  await chain?.stop();
});

async function adminJson<T>(path: string): Promise<T> {
  const res = await chain.admin('GET', path);
  if (res.status !== 200) throw new Error(`GET /admin${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function streamedText(stream: AsyncIterable<ChatCompletionChunk>): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
  return text;
}

test('a multi-turn OpenAI conversation stays on one account and is counted exactly, labelled chat_completions', async () => {
  const { key, id: keyId } = await chain.createKey();
  const client = new OpenAI({ baseURL: `${chain.gatewayUrl}/v1`, apiKey: key, maxRetries: 0 });
  const before: UsageTotals = chain.fake.usageTotals();
  const seenBefore = chain.fake.requests.length;

  const history: ChatCompletionMessageParam[] = [
    { role: 'system', content: 'You plan shunting moves in a freight yard. Answer in one sentence.' },
  ];
  for (let turn = 1; turn <= TURNS; turn++) {
    history.push({
      role: 'user',
      content: `Turn ${turn}: which siding takes the ${turn % 2 === 0 ? 'grain' : 'coal'} wagons of train ${turn * 41}?`,
    });
    let answer: string;
    if (STREAMED.has(turn)) {
      answer = await streamedText(
        await client.chat.completions.create({
          model: MODEL,
          messages: history,
          stream: true,
          stream_options: { include_usage: true },
        }),
      );
    } else {
      answer =
        (await client.chat.completions.create({ model: MODEL, messages: history })).choices[0]?.message.content ?? '';
    }
    expect(answer.length).toBeGreaterThan(0);
    history.push({ role: 'assistant', content: answer });
  }

  // One /v1/messages request with the same key, so the route split is visible.
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: MODEL,
      max_tokens: 256,
      messages: [{ role: 'user', content: 'And in the Messages format?' }],
    }),
  });
  expect(res.status).toBe(200);
  await res.text();

  const sent = chain.fake.requests.slice(seenBefore).filter((r) => r.route === 'messages');
  expect(sent).toHaveLength(TURNS + 1);
  const conversation = sent.slice(0, TURNS);
  // Every turn grew the history the fake saw, and one account answered them all.
  expect(conversation.map((r) => (r.body as { messages: unknown[] }).messages.length)).toEqual([1, 3, 5, 7, 9]);
  expect(new Set(conversation.map((r) => r.accountId)).size).toBe(1);

  const now = chain.fake.usageTotals();
  const ledger = {
    requests: now.requests - before.requests,
    inputTokens: now.input - before.input,
    outputTokens: now.output - before.output,
    cacheCreationInputTokens: now.cacheCreation - before.cacheCreation,
    cacheReadInputTokens: now.cacheRead - before.cacheRead,
  };
  expect(ledger.requests).toBe(TURNS + 1);

  const row = await waitFor(
    'the key row to count every request',
    async () => {
      const report = await adminJson<UsageReport>('/usage?by=key');
      const found = report.rows.find((r) => r.id === keyId);
      return found && found.requests >= TURNS + 1 ? found : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, detail: () => chain.worker?.output() ?? '' },
  );
  expect(row).toMatchObject(ledger);
  expect(row.requestsByRoute).toEqual({ messages: 1, chat_completions: TURNS });
  expect(row.chatCompletionRequests).toBe(TURNS);

  const recent = await waitFor(
    'the recent list to hold every request',
    async () => {
      const { requests } = await adminJson<{ requests: { keyId: string; route?: string }[] }>(
        '/usage/recent?limit=100',
      );
      const mine = requests.filter((r) => r.keyId === keyId);
      return mine.length >= TURNS + 1 ? mine : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, detail: () => chain.worker?.output() ?? '' },
  );
  expect(recent.map((r) => r.route).sort()).toEqual([...Array<string>(TURNS).fill('chat_completions'), 'messages']);

  // The gateway's request metrics carry the route too.
  const metrics = await (
    await fetch(`${chain.gatewayUrl}/metrics`, { headers: { authorization: `Bearer ${chain.metricsToken}` } })
  ).text();
  const counted = metrics
    .split('\n')
    .filter(
      (line) =>
        line.startsWith('switchyard_gateway_requests_total{') &&
        line.includes('route="chat_completions"') &&
        line.includes('status="200"'),
    )
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  expect(counted).toBe(TURNS);
});
