// A gateway replaced during a roll-out: SIGTERM while a slow stream is in flight. /health and /ready turn
// 503 draining at once (the edge's health check takes the replica out), the listener closes after the
// notice, the stream still completes intact, and the process exits 0 without waiting out its drain timeout.
import { testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(60_000);

const GIT_SHA = 'feed1234feed';

let chain: Stack;

beforeAll(async () => {
  chain = await startStack({
    redisUrl: testRedisUrl(),
    // A stream of about 3 s; the gateway's notice is 1 s, its drain timeout (from the harness) 5 s.
    fakeTiming: { deltaIntervalMs: 100, textDeltas: 30 },
    gatewayEnv: { DRAIN_NOTICE_MS: '1000', GIT_SHA },
  });
  await chain.waitReady();
});
afterAll(() => chain?.stop());

/** One JSON log line of the gateway's with this message. */
function logLine(message: string): Record<string, unknown> | undefined {
  for (const line of chain.gateway.output().split('\n')) {
    if (!line.startsWith('{')) continue;
    const entry = JSON.parse(line) as Record<string, unknown>;
    if (entry.message === message) return entry;
  }
  return undefined;
}

async function probe(path: string): Promise<{ status: number; body: unknown } | 'refused'> {
  try {
    const res = await fetch(`${chain.gatewayUrl}${path}`);
    return { status: res.status, body: await res.json() };
  } catch {
    return 'refused';
  }
}

it('SIGTERM: the probes say draining at once, the stream in flight completes, the process exits 0', async () => {
  const { key } = await chain.createKey();
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: 'claude-sonnet-4-6',
      max_tokens: 256,
      stream: true,
      messages: [{ role: 'user', content: 'hello' }],
    }),
  });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  const decoder = new TextDecoder();
  let text = decoder.decode((await reader.read()).value);

  chain.gateway.proc.kill('SIGTERM');
  await chain.gateway.waitForOutput(/"message":"draining"/);
  expect(await probe('/health')).toEqual({
    status: 503,
    body: { status: 'draining', version: expect.any(String) as unknown, gitSha: GIT_SHA },
  });
  expect(await probe('/ready')).toMatchObject({ status: 503, body: { status: 'draining' } });

  // After the notice the listener is closed: a new connection is refused (the edge retries it on the other replica).
  await waitFor('the draining gateway to close its listener', async () => (await probe('/health')) === 'refused', {
    intervalMs: 100,
  });

  for (let r = await reader.read(); !r.done; r = await reader.read()) text += decoder.decode(r.value, { stream: true });
  // Intact: every event whole, the answer to its end.
  const events = text.trimEnd().split('\n\n');
  for (const event of events)
    expect(
      JSON.parse(
        event
          .split('\n')
          .find((l) => l.startsWith('data: '))!
          .slice(6),
      ),
    ).toHaveProperty('type');
  expect(events.filter((e) => e.startsWith('event: content_block_delta')).length).toBeGreaterThan(10);
  expect(text).toContain('"stop_reason":"end_turn"');
  expect(events.at(-1)).toBe('event: message_stop\ndata: {"type":"message_stop"}');

  expect(await chain.gateway.exited()).toEqual({ code: 0, signal: null });
  // Done because the stream ended, not because the drain timed out (an idle keep-alive socket does not hold it up).
  expect(logLine('stopped')).toMatchObject({ timedOut: false });
});
