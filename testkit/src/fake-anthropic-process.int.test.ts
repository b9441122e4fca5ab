// The fake in its own process: it serves, its pacing changes over IPC, it counts open requests, it stops.
import {
  fakeApiKeyHeaders,
  fakeMessagesBody,
  postFakeMessages,
  processAlive,
  startFakeAnthropicProcess,
  type FakeAnthropicProcess,
} from './index.js';

let fake: FakeAnthropicProcess;

beforeAll(async () => {
  fake = await startFakeAnthropicProcess({ options: { timing: { textDeltas: 2 } } });
});
afterAll(async () => {
  await fake?.stop();
});

it('answers a streaming request with the API key it was seeded with', async () => {
  const apiKey = fake.accounts[0]?.apiKey ?? '';
  const res = await postFakeMessages(fake.url, fakeApiKeyHeaders(apiKey), fakeMessagesBody({ stream: true }));
  expect(res.status).toBe(200);
  expect(await res.text()).toContain('event: message_stop');
  expect(fake.pid).not.toBe(process.pid);
});

it('holds a stream open once its pacing is slowed over IPC, counts it, and sees it closed after the client aborts', async () => {
  const apiKey = fake.accounts[0]?.apiKey ?? '';
  await fake.setTiming({ deltaIntervalMs: 60_000 });
  const abort = new AbortController();
  const res = await postFakeMessages(fake.url, fakeApiKeyHeaders(apiKey), fakeMessagesBody({ stream: true }), {
    signal: abort.signal,
  });
  const reader = res.body!.getReader();
  const chunk = (await reader.read()).value as Uint8Array | undefined;
  const first = new TextDecoder().decode(chunk);
  expect(first).toContain('event: message_start');
  expect(await fake.openRequests()).toBe(1);

  // Paced a minute per delta: only the abort can close the stream before the limit.
  abort.abort();
  await expect(fake.waitOpenRequests(0, 20_000)).resolves.toBe(0);
  await fake.setTiming({ deltaIntervalMs: 0 });
});

it('stops: the process exits', async () => {
  const other = await startFakeAnthropicProcess();
  await other.stop();
  expect(processAlive(other.pid)).toBe(false);
  await expect(other.openRequests()).rejects.toThrow('not running');
});
