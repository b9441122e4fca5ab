// Clients that hang up mid-stream, many and fast (Claude Code's Esc, times a team), through one node's tunnel. Each
// hang-up must stop that request's call to Anthropic and nothing else. nghttp2 closes a server session that receives
// more than 1,000 RST_STREAM frames at more than 33 a second, and the node is the tunnel's server: were the gateway
// to reset a stream per hang-up, the tunnel would go down after ~1,000 of them and every request on it fail
// (gateway/src/tunnel/half-close-cancel.ts). So: 2,500 hang-ups as fast as 40 clients can make them, then every
// upstream call closed, the tunnel the same one, and the next request answered.
import { startStack, testRedisUrl, waitFor, type FakeAnthropic, type Stack } from '@switchyard/testkit';

jest.setTimeout(180_000);

const HANGUPS = 2_500;
const CLIENTS = 40;

let chain: Stack<FakeAnthropic>;
let key: string;

beforeAll(async () => {
  chain = await startStack({
    redisUrl: testRedisUrl(),
    nodeIds: ['node-a'],
    // Streams that would run for a minute: every one is still open when its client leaves.
    fakeTiming: { firstByteDelayMs: 0, deltaIntervalMs: 60_000, textDeltas: 2 },
  });
  await chain.waitReady();
  key = (await chain.createKey()).key;
});
afterAll(async () => {
  await chain?.stop();
});

const body = JSON.stringify({
  model: 'claude-sonnet-4-6',
  max_tokens: 64,
  stream: true,
  messages: [{ role: 'user', content: 'hello' }],
});

/** One streamed request, given up after its first bytes; its status. */
async function hangUp(): Promise<number> {
  const controller = new AbortController();
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body,
    signal: controller.signal,
  });
  if (res.body !== null) {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) if (chunk.length > 0) break;
  }
  controller.abort();
  return res.status;
}

it('2,500 mid-stream hang-ups in a burst: each stops its upstream call, the tunnel stays up, the next request is answered', async () => {
  const statuses = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < HANGUPS) {
        next += 1;
        const status = await hangUp().catch(() => 0);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  // Every request reached a node and got its stream: no 502 for a tunnel gone, no 529 for a node in cool-down.
  expect(Object.fromEntries(statuses)).toEqual({ 200: HANGUPS });
  // Every call to Anthropic was closed when its client left (none runs on for its minute).
  await waitFor('every upstream call closed', () => chain.fake.openRequests() === 0, {
    timeoutMs: 30_000,
    detail: () => `${chain.fake.openRequests()} still open`,
  });
  // The same tunnel serves on: the gateway never saw it close.
  expect(chain.gateway?.output() ?? '').not.toMatch(/tunnel closed/);
  chain.fake.setTiming({ deltaIntervalMs: 0 });
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body,
  });
  expect(res.status).toBe(200);
  expect(await res.text()).toContain('message_stop');
});
