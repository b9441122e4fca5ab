// Account state from the real response headers of the fake upstream, read as node:http hands them to the node.
import http from 'node:http';
import { PassThrough } from 'node:stream';
import { createLogger, effectiveState } from '@switchyard/shared';
import type { AccountState } from '@switchyard/shared';
import { createFakeAnthropic, fakeApiKeyHeaders, fakeMessagesBody, fakeOAuthHeaders } from '@switchyard/testkit';
import type { FakeAnthropic } from '@switchyard/testkit';
import { createAccountStateHolder } from './account-state.js';

let fake: FakeAnthropic;
let accessToken: string;

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1' }, { id: 'key-1', kind: 'api_key' }] });
  await fake.start();
  accessToken = fake.issueAccessToken('max-1');
});

afterAll(() => fake.stop());

afterEach(() => {
  fake.clearFaults();
  fake.setUtilization('max-1', { fiveHour: 0.1, sevenDay: 0.2 });
});

interface Upstream {
  status: number;
  headers: http.IncomingHttpHeaders;
}

function post(headers: Record<string, string>, body: Record<string, unknown> = fakeMessagesBody()): Promise<Upstream> {
  const payload = JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = http.request(`${fake.url}/v1/messages?beta=true`, { method: 'POST', headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

const oauth = (body?: Record<string, unknown>) => post(fakeOAuthHeaders(accessToken), body);

function setup(now: () => number = Date.now) {
  const stream = new PassThrough();
  let output = '';
  stream.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const holder = createAccountStateHolder({ log: createLogger({ service: 'test', level: 'debug', stream }), now });
  const changes: AccountState[] = [];
  holder.onChange((next) => changes.push(next));
  const lines = async () => {
    await new Promise((r) => setImmediate(r));
    return output
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  };
  return { holder, changes, lines, output: () => output };
}

describe('account state from upstream responses', () => {
  test('a 200 refreshes the 5h/7d figures without a transition', async () => {
    fake.setUtilization('max-1', { fiveHour: 0.42, sevenDay: 0.85 });
    const { holder, changes, lines } = setup();
    const res = await oauth();
    expect(res.status).toBe(200);
    holder.applyResponse(res.status, res.headers, 'claude-sonnet-4-6');
    const state = holder.current();
    expect(state.state).toBe('available');
    expect(state.fiveHour?.utilization).toBeCloseTo(0.42);
    expect(state.sevenDay?.utilization).toBeCloseTo(0.85);
    expect(state.fiveHour?.resetAt).toBeGreaterThan(Date.now());
    expect(changes).toHaveLength(0);
    expect(await lines()).toHaveLength(0);
  });

  test('a window 429 benches the account until its reset, logged and announced once', async () => {
    fake.inject({ kind: 'rate_limit', resetInSec: 1800 });
    const { holder, changes, lines, output } = setup();
    const res = await oauth();
    expect(res.status).toBe(429);
    // Two requests that hit the same limit report the same reset: still one transition.
    holder.applyResponse(res.status, res.headers, 'claude-sonnet-4-6');
    holder.applyResponse(res.status, res.headers, 'claude-sonnet-4-6');
    const state = holder.current();
    expect(state.state).toBe('limited');
    expect(Math.abs((state.limitedUntil ?? 0) - (Date.now() + 1_800_000))).toBeLessThan(60_000);
    expect(state.representativeClaim).toBe('five_hour');
    expect(changes.map((c) => c.state)).toEqual(['limited']);
    const logged = await lines();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({
      level: 'warn',
      message: 'account state changed',
      from: 'available',
      to: 'limited',
      claim: 'five_hour',
    });
    expect(logged[0]?.limitedUntil).toBe(new Date(state.limitedUntil ?? 0).toISOString());
    expect(output()).not.toContain(accessToken);
  });

  test('a request-scoped 429 (no window headers) leaves the account in rotation', async () => {
    fake.inject({ kind: 'request_429', retryAfterSec: 2 });
    const { holder, changes, lines } = setup();
    const res = await oauth();
    expect(res.status).toBe(429);
    expect(res.headers['x-should-retry']).toBe('true');
    holder.applyResponse(res.status, res.headers, 'claude-sonnet-4-6');
    expect(holder.current().state).toBe('available');
    expect(holder.current().limitedUntil).toBeUndefined();
    expect(changes).toHaveLength(0);
    expect(await lines()).toHaveLength(0);
  });

  test('a per-model 429 benches only that family; the account serves the others', async () => {
    fake.inject({ kind: 'rate_limit', modelFamily: 'opus', match: { model: 'opus' }, resetInSec: 3600 });
    const { holder, changes, lines } = setup();
    const res = await oauth(fakeMessagesBody({ model: 'claude-opus-4-7' }));
    expect(res.status).toBe(429);
    holder.applyResponse(res.status, res.headers, 'claude-opus-4-7');
    const state = holder.current();
    const now = Date.now();
    expect(state.state).toBe('available');
    expect(effectiveState(state, now, 'opus')).toBe('limited');
    expect(effectiveState(state, now, 'sonnet')).toBe('available');
    expect(Math.abs((state.limitedFamilies?.opus ?? 0) - (now + 3_600_000))).toBeLessThan(60_000);
    expect(changes).toHaveLength(1);
    expect((await lines())[0]).toMatchObject({ level: 'warn', model: 'claude-opus-4-7', to: 'available' });
  });

  test('once the reset passes the account is available again, without another response', async () => {
    let clock = Date.now();
    fake.inject({ kind: 'rate_limit', resetInSec: 60 });
    const { holder, changes } = setup(() => clock);
    const res = await oauth();
    holder.applyResponse(res.status, res.headers, undefined);
    expect(holder.current().state).toBe('limited');
    clock += 61_000 + 5_000;
    expect(holder.current().state).toBe('available');
    expect(changes.map((c) => c.state)).toEqual(['limited', 'available']);
  });

  test('an API-key account whose bucket is empty is limited for retry-after', async () => {
    fake.inject({ kind: 'rate_limit', retryAfterSec: 30, match: { accountId: 'key-1' } });
    const { holder } = setup();
    const res = await post(fakeApiKeyHeaders(fake.account('key-1').apiKey ?? ''));
    expect(res.status).toBe(429);
    expect(res.headers['anthropic-ratelimit-requests-remaining']).toBe('0');
    holder.applyResponse(res.status, res.headers, 'claude-sonnet-4-6');
    const state = holder.current();
    expect(state.state).toBe('limited');
    expect(Math.abs((state.limitedUntil ?? 0) - (Date.now() + 30_000))).toBeLessThan(10_000);
  });

  test('a window 429 does not override needs_login: only a login brings the account back', async () => {
    fake.inject({ kind: 'rate_limit', resetInSec: 1800 });
    const { holder } = setup();
    holder.setNeedsLogin();
    const res = await oauth();
    holder.applyResponse(res.status, res.headers, undefined);
    expect(holder.current().state).toBe('needs_login');
    holder.setOk();
    // The limit the 429 reported is not known here (pinned states ignore rejections): available until told otherwise.
    expect(holder.current().state).toBe('available');
  });
});
