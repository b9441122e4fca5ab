// /v1/chat/completions as a route of the gateway (docs/OPENAI.md): what the node gets, and every error the
// client sees in the OpenAI envelope, the gateway's own and Anthropic's. The openai SDK's scenarios are in
// openai-chat.int.test.ts; this file speaks plain HTTP, so it sees the bytes and headers as they are.
import { testRedisUrl, startStack, type Stack } from '@switchyard/testkit';

jest.setTimeout(60_000);

let chain: Stack;

beforeAll(async () => {
  chain = await startStack({
    redisUrl: testRedisUrl(),
    gatewayEnv: { MODEL_ALIASES: JSON.stringify({ 'house-model': 'claude-haiku-4-5' }) },
  });
  await chain.waitReady();
});
afterAll(async () => {
  await chain?.stop();
});
beforeEach(() => chain.fake.reset());

const MODEL = 'claude-sonnet-4-6';
const hello = { model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] };

function chat(key: string, body: string | object, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${chain.gatewayUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      'user-agent': 'OpenAI/JS 7.60.0',
      'x-stainless-lang': 'js',
      ...headers,
    },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

interface OpenAiError {
  error: { message: string; type: string; param: string | null; code: string | null };
}

function messagesSeen() {
  return chain.fake.requests.filter((r) => r.route === 'messages');
}

describe('what the node and Anthropic get', () => {
  it('an ordinary Messages request: its path, version and type, the client’s own headers, the account’s credential', async () => {
    const { key } = await chain.createKey();
    const res = await chat(key, hello, {
      'accept-encoding': 'gzip, br',
      'content-type': 'application/x-www-form-urlencoded',
    });
    expect(res.status).toBe(200);
    const seen = messagesSeen();
    expect(seen).toHaveLength(1);
    const r = seen[0]!;
    expect(r.path).toBe('/v1/messages');
    expect(r.headers['anthropic-version']).toBe('2023-06-01');
    // The body is the gateway's JSON, whatever the client's header claimed (curl -d says a form).
    expect(r.headers['content-type']).toBe('application/json');
    // The gateway reads the answer it translates, so it asks for it uncompressed.
    expect(r.headers['accept-encoding']).toBe('identity');
    // Never disguised: the client's user agent and SDK headers go as they came.
    expect(r.headers['user-agent']).toBe('OpenAI/JS 7.60.0');
    expect(r.headers['x-stainless-lang']).toBe('js');
    // Only the account's credential: the gateway key never reaches Anthropic.
    expect(r.accountId).toBeDefined();
    expect(JSON.stringify(r.headers)).not.toContain(key);
    expect(r.body).toEqual({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] });
  });

  it('a JSON answer arrives whole as one chat.completion, with the request id', async () => {
    const { key } = await chain.createKey();
    const res = await chat(key, hello);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(res.headers.get('request-id')).toMatch(/^req_/);
    const body = (await res.json()) as { object: string; choices: { message: { content: string } }[] };
    expect(body.object).toBe('chat.completion');
    expect(body.choices[0]?.message.content).toContain('Hello from the fake Anthropic upstream');
  });
});

describe('errors in the OpenAI envelope', () => {
  it('a missing or unknown key: 401 authentication_error', async () => {
    const res = await chat('sy-not-a-key', hello);
    expect(res.status).toBe(401);
    const body = (await res.json()) as OpenAiError;
    expect(body.error).toMatchObject({ type: 'authentication_error', code: 'invalid_api_key', param: null });
    expect(messagesSeen()).toHaveLength(0);
  });

  it('a body that is not JSON, and a field the translation refuses: 400 naming it, nothing sent', async () => {
    const { key } = await chain.createKey();
    const bad = await chat(key, '{"model":');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as OpenAiError).error).toMatchObject({
      type: 'invalid_request_error',
      code: 'invalid_json',
    });
    const n = await chat(key, { ...hello, n: 3 });
    expect(n.status).toBe(400);
    expect(((await n.json()) as OpenAiError).error).toMatchObject({ type: 'invalid_request_error', param: 'n' });
    expect(messagesSeen()).toHaveLength(0);
  });

  it('a model the key may not use: 403 permission_error, checked on the Claude model an alias names', async () => {
    const { key } = await chain.createKey({ allowedModels: ['claude-haiku-4-5'] });
    const res = await chat(key, hello);
    expect(res.status).toBe(403);
    expect(((await res.json()) as OpenAiError).error).toMatchObject({
      type: 'permission_error',
      code: 'model_not_allowed',
    });
    // The alias's own name is in no key's list: what the key may use is the Claude model it stands for.
    expect((await chat(key, { ...hello, model: 'house-model' })).status).toBe(200);
    expect(messagesSeen().map((r) => (r.body as { model: string }).model)).toEqual(['claude-haiku-4-5']);
  });

  it("the key's USD budget: 429 rate_limit_error budget_exhausted, nothing sent", async () => {
    const { key } = await chain.createKey({ dailyUsdBudget: 0.000001 });
    const res = await chat(key, hello);
    expect(res.status).toBe(429);
    expect(((await res.json()) as OpenAiError).error).toMatchObject({
      type: 'rate_limit_error',
      code: 'budget_exhausted',
    });
    expect(messagesSeen()).toHaveLength(0);
  });

  it("the key's rate: 429 rate_limit_error with retry-after", async () => {
    const { key } = await chain.createKey({ rpm: 1 });
    expect((await chat(key, hello)).status).toBe(200);
    const res = await chat(key, hello);
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await res.json()) as OpenAiError).error).toMatchObject({ type: 'rate_limit_error', code: 'rate_limited' });
  });

  it("Anthropic's own error, after failover ran out: its status and retry-after, in the OpenAI envelope", async () => {
    const { key } = await chain.createKey();
    chain.fake.inject({ kind: 'request_429', retryAfterSec: 7, times: 10 });
    const res = await chat(key, hello);
    expect(res.status).toBe(429);
    // Failover ran first: the answer is the last node's.
    expect(messagesSeen().length).toBeGreaterThanOrEqual(2);
    expect(res.headers.get('retry-after')).toBe('7');
    const body = (await res.json()) as OpenAiError & { type?: unknown };
    expect(body.type).toBeUndefined();
    expect(body.error).toMatchObject({ type: 'rate_limit_error', param: null });
    expect(body.error.message.length).toBeGreaterThan(0);
  });

  it('a node stream that breaks off ends with an error event the SDK throws, never [DONE]', async () => {
    const { key } = await chain.createKey();
    chain.fake.setTiming({ textDeltas: 20 });
    try {
      chain.fake.inject({ kind: 'reset_after_bytes', bytes: 900, times: 2 });
      const res = await chat(key, { ...hello, stream: true });
      expect(res.status).toBe(200);
      const text = await res.text();
      const frames = text.split('\n\n').filter((f) => f.length > 0);
      expect(frames[0]).toContain('"role":"assistant"');
      const last = JSON.parse(frames.at(-1)!.replace(/^data: /, '')) as OpenAiError;
      expect(last.error.type).toBe('server_error');
      expect(text).not.toContain('[DONE]');
    } finally {
      chain.fake.clearFaults();
      chain.fake.setTiming({ textDeltas: 3 });
    }
  });

  it('a JSON answer cut off mid-way: a 502 server_error the SDK can read, not a hung-up socket', async () => {
    const { key } = await chain.createKey();
    try {
      chain.fake.inject({ kind: 'reset_after_bytes', bytes: 60, times: 2 });
      const res = await chat(key, hello);
      expect(res.status).toBe(502);
      expect(((await res.json()) as OpenAiError).error).toMatchObject({ type: 'server_error', param: null });
    } finally {
      chain.fake.clearFaults();
    }
  });
});

describe('GET /v1/models', () => {
  it('without anthropic-version (an OpenAI client): the list, with both SDKs’ fields', async () => {
    const { key } = await chain.createKey();
    const res = await fetch(`${chain.gatewayUrl}/v1/models`, { headers: { authorization: `Bearer ${key}` } });
    expect(res.status).toBe(200);
    const list = (await res.json()) as { object: string; data: Record<string, unknown>[]; has_more: boolean };
    expect(list.object).toBe('list');
    expect(list.data.length).toBeGreaterThan(0);
    for (const m of list.data) {
      expect(m).toMatchObject({ type: 'model', object: 'model', owned_by: 'anthropic' });
      expect([typeof m.id, typeof m.display_name]).toEqual(['string', 'string']);
      expect(m.created).toBe(Math.floor(Date.parse(m.created_at as string) / 1000));
    }
    const seen = chain.fake.requests.find((r) => r.route === 'models')!;
    expect(seen.headers['anthropic-version']).toBe('2023-06-01');
    // An OpenAI client reads one page and never asks for the next: it gets the whole list on it.
    expect(seen.query).toEqual({ limit: '1000' });
  });
});
