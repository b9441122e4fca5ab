// Credential checks, validation, routing and request records, observed over raw HTTP.
import { AUTH_MESSAGES } from './auth.js';
import { createFakeAnthropic } from './create-fake-anthropic.js';
import { FAKE_MODEL, fakeApiKeyHeaders, fakeMessagesBody, fakeOAuthHeaders, postFakeMessages } from './test-support.js';
import type { FakeAnthropic } from './types.js';

let fake: FakeAnthropic;
let url: string;
let apiKey: string;

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1' }, { id: 'console-1', kind: 'api_key' }] });
  url = await fake.start();
  apiKey = fake.account('console-1').apiKey ?? '';
});

afterAll(() => fake.stop());

interface Envelope {
  type: string;
  error: { type: string; message: string };
  request_id: string;
}

async function expectError(response: Response, status: number, type: string, message?: string): Promise<Envelope> {
  const body = (await response.json()) as Envelope;
  expect(response.status).toBe(status);
  expect(body.type).toBe('error');
  expect(body.error.type).toBe(type);
  if (message !== undefined) expect(body.error.message).toBe(message);
  expect(body.request_id).toBe(response.headers.get('request-id'));
  expect(body.request_id).toMatch(/^req_/);
  return body;
}

describe('credentials on /v1', () => {
  test('a valid OAuth token with the oauth beta is served, with unified rate-limit headers', async () => {
    const response = await postFakeMessages(url, fakeOAuthHeaders(fake.issueAccessToken('max-1')), fakeMessagesBody());
    expect(response.status).toBe(200);
    expect(response.headers.get('anthropic-ratelimit-unified-status')).toBe('allowed');
    expect(response.headers.get('anthropic-ratelimit-unified-5h-utilization')).toBe('0.1');
    expect(response.headers.get('anthropic-ratelimit-unified-representative-claim')).toBe('seven_day');
    expect(Number(response.headers.get('anthropic-ratelimit-unified-7d-reset'))).toBeGreaterThan(Date.now() / 1000);
  });

  test('an OAuth token without the oauth beta is refused as the real API does', async () => {
    const headers = fakeOAuthHeaders(fake.issueAccessToken('max-1'), { 'anthropic-beta': 'prompt-caching-2024-07-31' });
    await expectError(
      await postFakeMessages(url, headers, fakeMessagesBody()),
      401,
      'authentication_error',
      AUTH_MESSAGES.oauthNotSupported,
    );
  });

  test('an expired token gets the "has expired" 401, a fresh one for the same account works', async () => {
    const token = fake.issueAccessToken('max-1');
    fake.expireAccessToken(token);
    const expired = await postFakeMessages(url, fakeOAuthHeaders(token), fakeMessagesBody());
    await expectError(expired, 401, 'authentication_error', AUTH_MESSAGES.expired);
    const shortLived = fake.issueAccessToken('max-1', { expiresInSec: 0 });
    await expectError(
      await postFakeMessages(url, fakeOAuthHeaders(shortLived), fakeMessagesBody()),
      401,
      'authentication_error',
    );
    const fresh = await postFakeMessages(url, fakeOAuthHeaders(fake.issueAccessToken('max-1')), fakeMessagesBody());
    expect(fresh.status).toBe(200);
  });

  test('an unknown bearer, an unknown key, both headers at once, or none are all 401', async () => {
    const unknownBearer = await postFakeMessages(url, fakeOAuthHeaders('sk-ant-oat01-FAKE-1'), fakeMessagesBody());
    await expectError(unknownBearer, 401, 'authentication_error', AUTH_MESSAGES.invalidBearer);
    const unknownKey = await postFakeMessages(url, fakeApiKeyHeaders('sk-ant-api03-FAKE-1'), fakeMessagesBody());
    await expectError(unknownKey, 401, 'authentication_error', AUTH_MESSAGES.invalidApiKey);
    const both = { ...fakeOAuthHeaders(fake.issueAccessToken('max-1')), 'x-api-key': apiKey };
    await expectError(
      await postFakeMessages(url, both, fakeMessagesBody()),
      401,
      'authentication_error',
      AUTH_MESSAGES.both,
    );
    const none = { 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
    await expectError(
      await postFakeMessages(url, none, fakeMessagesBody()),
      401,
      'authentication_error',
      AUTH_MESSAGES.missing,
    );
  });

  test('a known API key in x-api-key is served with classic limits and no unified headers', async () => {
    const response = await postFakeMessages(url, fakeApiKeyHeaders(apiKey), fakeMessagesBody());
    expect(response.status).toBe(200);
    expect(response.headers.get('anthropic-ratelimit-tokens-limit')).not.toBeNull();
    expect(Number(response.headers.get('anthropic-ratelimit-requests-remaining'))).toBeLessThan(4000);
    expect(response.headers.get('anthropic-ratelimit-unified-status')).toBeNull();
  });
});

describe('validation and routing', () => {
  test('missing anthropic-version, missing max_tokens, bad JSON and unknown models are refused', async () => {
    const token = fake.issueAccessToken('max-1');
    const noVersion = { ...fakeOAuthHeaders(token) };
    delete noVersion['anthropic-version'];
    await expectError(await postFakeMessages(url, noVersion, fakeMessagesBody()), 400, 'invalid_request_error');
    const noMax = fakeMessagesBody({ max_tokens: undefined });
    await expectError(
      await postFakeMessages(url, fakeOAuthHeaders(token), noMax),
      400,
      'invalid_request_error',
      'max_tokens: Field required',
    );
    const noMessages = fakeMessagesBody({ messages: [] });
    await expectError(await postFakeMessages(url, fakeOAuthHeaders(token), noMessages), 400, 'invalid_request_error');
    const badJson = await fetch(`${url}/v1/messages`, {
      method: 'POST',
      headers: fakeOAuthHeaders(token),
      body: '{"model":',
    });
    await expectError(badJson, 400, 'invalid_request_error');
    const gpt = fakeMessagesBody({ model: 'gpt-4o' });
    await expectError(
      await postFakeMessages(url, fakeOAuthHeaders(token), gpt),
      404,
      'not_found_error',
      'model: gpt-4o',
    );
  });

  test('a body over maxBodyBytes gets 413 request_too_large', async () => {
    const small = createFakeAnthropic({ maxBodyBytes: 1000 });
    const smallUrl = await small.start();
    try {
      const body = fakeMessagesBody({ system: 'x'.repeat(5000) });
      const response = await postFakeMessages(smallUrl, fakeOAuthHeaders(small.issueAccessToken('acct-1')), body);
      await expectError(response, 413, 'request_too_large');
    } finally {
      await small.stop();
    }
  });

  test('the connectivity probes answer 200 and unknown routes a 404 envelope', async () => {
    expect((await fetch(`${url}/`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${url}/api/hello`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${url}/`)).status).toBe(200);
    await expectError(await fetch(`${url}/v1/nothing-here`), 404, 'not_found_error');
  });

  test('models and count_tokens answer with the documented shapes', async () => {
    const headers = fakeOAuthHeaders(fake.issueAccessToken('max-1'));
    const models = (await (await fetch(`${url}/v1/models?limit=1000`, { headers })).json()) as {
      data: { id: string; type: string }[];
      first_id: string;
      last_id: string;
      has_more: boolean;
    };
    expect(models.has_more).toBe(false);
    expect(models.first_id).toBe(models.data[0]?.id);
    expect(models.last_id).toBe(models.data.at(-1)?.id);
    expect(models.data.every((model) => model.type === 'model')).toBe(true);
    const counted = await postFakeMessages(
      url,
      headers,
      { model: FAKE_MODEL, messages: [{ role: 'user', content: 'abcdefgh' }] },
      {
        path: '/v1/messages/count_tokens',
      },
    );
    expect(await counted.json()).toEqual({ input_tokens: 2 });
  });
});

test('requests are recorded with their route, credential, betas, session and body', async () => {
  fake.reset();
  const token = fake.issueAccessToken('max-1');
  const headers = fakeOAuthHeaders(token, {
    'anthropic-beta': 'oauth-2025-04-20,claude-code-20250219',
    'x-claude-code-session-id': 'session-abc',
  });
  const body = fakeMessagesBody({ metadata: { user_id: 'u' } });
  await (await postFakeMessages(url, headers, body)).text();
  await (await postFakeMessages(url, fakeApiKeyHeaders(apiKey), fakeMessagesBody())).text();

  const [first, second] = fake.requests;
  expect(first).toMatchObject({
    route: 'messages',
    method: 'POST',
    path: '/v1/messages',
    query: { beta: 'true' },
    authKind: 'bearer',
    accessToken: token,
    accountId: 'max-1',
    betas: ['oauth-2025-04-20', 'claude-code-20250219'],
    sessionId: 'session-abc',
    remoteAddress: '127.0.0.1',
    bodyBytes: Buffer.byteLength(JSON.stringify(body)),
    body,
    status: 200,
  });
  expect(first?.headers['x-claude-code-session-id']).toBe('session-abc');
  expect(second).toMatchObject({ authKind: 'api_key', apiKey, accountId: 'console-1' });
  expect(second?.accessToken).toBeUndefined();
});
