// The whole chain on loopback: gateway process ⇠ two node-agent processes dialled in through tunnels → fake Anthropic, real Redis.
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import { createIoRedisClient, createIoRedisStore, createKeyspace, utcDay, type SharedStore } from '@switchyard/shared';
import { testRedisUrl, claudeCodeRequest, startStack, type Stack, waitFor } from '@switchyard/testkit';
import { sessionKeyOf } from '../../gateway/src/routing/index.js';
import { dialGateway } from '../../gateway/src/tunnel/test-harness.js';

jest.setTimeout(60_000);

let chain: Stack;
let store: SharedStore;

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), gatewayEnv: { MAX_BODY_BYTES: String(512 * 1024) } });
  store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
  await chain.waitReady();
});
afterAll(async () => {
  await chain?.stop();
  await store?.close();
});
beforeEach(() => chain.fake.reset());

const hello = { model: 'claude-sonnet-4-6', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hello' }] };

function post(
  path: string,
  key: string,
  body: string | object,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${chain.gatewayUrl}${path}`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

function accountsServing(): string[] {
  return chain.fake.requests.filter((r) => r.route === 'messages').map((r) => r.accountId ?? '?');
}

describe('clients work unchanged through the chain', () => {
  it('the official SDK, non-streaming and streaming', async () => {
    const { key } = await chain.createKey();
    const sdk = new Anthropic({ baseURL: chain.gatewayUrl, apiKey: key });
    const msg = await sdk.messages.create(hello);
    expect(msg.content.some((b) => b.type === 'text')).toBe(true);
    expect(msg.usage.input_tokens).toBeGreaterThan(0);
    const stream = sdk.messages.stream({
      ...hello,
      thinking: { type: 'enabled', budget_tokens: 1024 },
      max_tokens: 2048,
    });
    const final = await stream.finalMessage();
    expect(final.content.map((b) => b.type)).toEqual(['thinking', 'text']);
    expect(final.usage.output_tokens).toBeGreaterThan(1);
  });

  it('requests shaped exactly like Claude Code: the probes, then a 50 KB streaming ?beta=true request', async () => {
    const { key } = await chain.createKey();
    expect((await fetch(`${chain.gatewayUrl}/`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${chain.gatewayUrl}/api/hello`, { method: 'HEAD' })).status).toBe(200);
    const sessionId = randomUUID();
    const req = claudeCodeRequest({ sessionId, key });
    expect(req.body.length).toBeGreaterThan(45_000);
    const res = await fetch(`${chain.gatewayUrl}/v1/messages?beta=true`, {
      method: 'POST',
      headers: { ...req.headers, cookie: 'session=should-not-travel' },
      body: req.body,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const text = await res.text();
    expect(text).toContain('event: message_start');
    expect(text.trimEnd().endsWith('data: {"type":"message_stop"}')).toBe(true);
    const seen = chain.fake.requests.find((r) => r.route === 'messages')!;
    expect(seen.query).toEqual({ beta: 'true' });
    expect(seen.bodyBytes).toBe(Buffer.byteLength(req.body));
    expect(seen.sessionId).toBe(sessionId);
    expect(seen.headers['user-agent']).toBe('claude-cli/2.1.0 (external, cli)');
    expect(seen.headers['x-app']).toBe('cli');
    expect(seen.betas).toEqual(
      expect.arrayContaining(['claude-code-20250219', 'interleaved-thinking-2025-05-14', 'oauth-2025-04-20']),
    );
    // The client's credentials and cookies never reach Anthropic: only the account's own token does.
    expect(seen.headers.authorization).not.toContain(key);
    expect(seen.headers.cookie).toBeUndefined();
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(Object.keys(seen.headers).filter((h) => h.startsWith('x-switchyard'))).toEqual([]);
  });
});

describe('stickiness', () => {
  it('keeps one session on one node, spreads sessions, and returns after a drain and resume', async () => {
    const { key } = await chain.createKey();
    const session = randomUUID();
    for (let i = 0; i < 20; i++)
      expect((await post('/v1/messages', key, hello, { 'x-claude-code-session-id': session })).status).toBe(200);
    const served = new Set(accountsServing());
    expect(served.size).toBe(1);
    const home = [...served][0]!;

    chain.fake.reset();
    for (let i = 0; i < 12; i++)
      expect((await post('/v1/messages', key, hello, { 'x-claude-code-session-id': randomUUID() })).status).toBe(200);
    expect(new Set(accountsServing()).size).toBe(2);

    const homeNode = Object.entries(chain.nodes).find(([, n]) => n.accountId === home)![0];
    expect((await chain.admin('POST', `/nodes/${homeNode}/drain`)).status).toBe(200);
    await waitFor(
      'the session served away from its drained home',
      async () => {
        chain.fake.reset();
        await post('/v1/messages', key, hello, { 'x-claude-code-session-id': session });
        return accountsServing()[0] !== home;
      },
      { intervalMs: 100 },
    );
    expect((await chain.admin('POST', `/nodes/${homeNode}/resume`)).status).toBe(200);
    await waitFor(
      'the session back on its resumed home',
      async () => {
        chain.fake.reset();
        await post('/v1/messages', key, hello, { 'x-claude-code-session-id': session });
        return accountsServing()[0] === home;
      },
      { intervalMs: 100 },
    );
  });
});

describe('failover', () => {
  it('fails over before the first byte on a 529 and on a rate-limited account; never after the first byte', async () => {
    const { key } = await chain.createKey();
    const session = randomUUID();
    expect((await post('/v1/messages', key, hello, { 'x-claude-code-session-id': session })).status).toBe(200);
    const home = accountsServing()[0]!;
    const other = home === 'acct-node-a' ? 'acct-node-b' : 'acct-node-a';

    chain.fake.reset();
    chain.fake.inject({ kind: 'overloaded', match: { accountId: home } });
    const r1 = await post('/v1/messages', key, hello, { 'x-claude-code-session-id': session });
    expect(r1.status).toBe(200);
    expect(accountsServing()).toEqual([home, other]);

    chain.fake.reset();
    chain.fake.inject({ kind: 'rate_limit', match: { accountId: home } });
    const r2 = await post('/v1/messages', key, hello, { 'x-claude-code-session-id': session });
    expect(r2.status).toBe(200);
    expect(accountsServing()).toEqual([home, other]);
    // The limited account is benched at once: the next request goes straight to the other one.
    chain.fake.reset();
    expect((await post('/v1/messages', key, hello, { 'x-claude-code-session-id': session })).status).toBe(200);
    expect(accountsServing()).toEqual([other]);

    chain.fake.reset();
    chain.fake.clearFaults();
    chain.fake.inject({ kind: 'mid_stream_error', afterEvents: 3, match: { accountId: other } });
    const r3 = await post('/v1/messages', key, { ...hello, stream: true }, { 'x-claude-code-session-id': session });
    const text = await r3.text();
    expect(text).toContain('event: error');
    expect(accountsServing()).toEqual([other]);
  });

  it('fails over before the first byte when a node refuses connections', async () => {
    const keys = createKeyspace(chain.prefix);
    const { key, id } = await chain.createKey();
    // An enrolled node whose tunnel is up but refuses every connection stream.
    const enrolled = await chain.admin('POST', '/nodes', { id: 'node-dead' });
    expect(enrolled.status).toBe(201);
    const { token } = (await enrolled.json()) as { token: string };
    const server = createServer((_req, res) => res.writeHead(500).end());
    const dialled = await dialGateway(chain.gatewayUrl, { nodeId: 'node-dead', token, server, connectionStatus: 503 });
    if (!dialled.ok) throw new Error(`node-dead was refused: ${dialled.status}`);
    await waitFor(
      'node-dead listed',
      async () =>
        ((await (await chain.admin('GET', '/nodes')).json()) as { nodes: { nodeId: string }[] }).nodes.some(
          (n) => n.nodeId === 'node-dead',
        ),
      { intervalMs: 100 },
    );
    // The conversation's home is the dead node, so it is tried first.
    const session = randomUUID();
    const hash = sessionKeyOf(id, { 'x-claude-code-session-id': session }, {}).key;
    await store.set(keys.sticky(id, hash), 'node-dead', { ttlMs: 60_000 });
    const res = await post('/v1/messages', key, hello, { 'x-claude-code-session-id': session });
    expect(res.status).toBe(200);
    await res.text();
    expect(accountsServing().length).toBe(1);
    const logged = () =>
      chain.gateway
        .output()
        .split('\n')
        .filter((l) => l.includes('"failovers":1') && l.includes('"status":200'));
    await waitFor('the failover logged', () => logged().length > 0, {
      intervalMs: 100,
    });
    expect(JSON.parse(logged()[0]!)).toMatchObject({ message: 'request', failovers: 1, status: 200, sticky: 'hit' });
    await dialled.peer.close();
    await chain.admin('DELETE', '/nodes/node-dead');
    await waitFor(
      'node-dead dropped from the list',
      async () =>
        !((await (await chain.admin('GET', '/nodes')).json()) as { nodes: { nodeId: string }[] }).nodes.some(
          (n) => n.nodeId === 'node-dead',
        ),
      { intervalMs: 100 },
    );
  });

  it('a stream that breaks mid-way ends with a terminal error event, not a silent truncation', async () => {
    const { key } = await chain.createKey();
    chain.fake.inject({ kind: 'reset_after_bytes', bytes: 400, times: 2 });
    const res = await post('/v1/messages', key, { ...hello, stream: true });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toMatch(/event: error\ndata: \{"type":"error","error":\{"type":"(api_error|overloaded_error)"/);
    chain.fake.clearFaults();
  });
});

describe('limits and errors', () => {
  it('enforces requests per minute with retry-after', async () => {
    const { key } = await chain.createKey({ rpm: 3 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await post('/v1/messages', key, hello)).status);
    expect(statuses.slice(0, 3)).toEqual([200, 200, 200]);
    const over = await post('/v1/messages', key, hello);
    expect(over.status).toBe(429);
    expect(Number(over.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await over.json()) as { error: { type: string } }).error.type).toBe('rate_limit_error');
  });

  it('enforces concurrency, the daily budget and allowed models', async () => {
    chain.fake.setTiming({ deltaIntervalMs: 100, textDeltas: 10 });
    try {
      const { key } = await chain.createKey({ concurrency: 1 });
      const slow = post('/v1/messages', key, { ...hello, stream: true });
      const first = await slow;
      const second = await post('/v1/messages', key, hello);
      expect(second.status).toBe(429);
      await first.text();
    } finally {
      chain.fake.setTiming({ deltaIntervalMs: 0, textDeltas: 3 });
    }
    const budget = await chain.createKey({ dailyTokenBudget: 100 });
    await store.hincrby(createKeyspace(chain.prefix).usage('key', budget.id, utcDay(Date.now())), {
      inputTokens: 80,
      outputTokens: 30,
    });
    await waitFor(
      'the budget to refuse with 429',
      async () => (await post('/v1/messages', budget.key, hello)).status === 429,
      { intervalMs: 100 },
    );

    const models = await chain.createKey({ allowedModels: ['claude-haiku-*'] });
    const refused = await post('/v1/messages', models.key, hello);
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { type: string } }).error.type).toBe('permission_error');
    expect((await post('/v1/messages', models.key, { ...hello, model: 'claude-haiku-4-5' })).status).toBe(200);
  });

  // The gateway trusts a cached key for at most 3 s: key-authenticator's tests hold that bound on a clock of their
  // own. Across processes on a machine that may be loaded, this limit is only generous.
  it('revocation takes effect', async () => {
    const { key, id } = await chain.createKey();
    expect((await post('/v1/messages', key, hello)).status).toBe(200);
    expect((await chain.admin('DELETE', `/keys/${id}`)).status).toBeLessThan(300);
    await waitFor(
      'the revoked key to be refused with 401',
      async () => (await post('/v1/messages', key, hello)).status === 401,
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  });

  it('answers bad input in the envelope: 401, 413 before any upstream traffic, malformed JSON, unknown routes', async () => {
    const { key } = await chain.createKey();
    for (const bad of [undefined, 'sy-not-a-key', key.slice(0, -1) + (key.endsWith('A') ? 'B' : 'A')]) {
      const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
        method: 'POST',
        headers: bad ? { 'x-api-key': bad } : {},
        body: JSON.stringify(hello),
      });
      expect(res.status).toBe(401);
      expect(res.headers.get('request-id')).toMatch(/^req_/);
      expect(((await res.json()) as { error: { type: string } }).error.type).toBe('authentication_error');
    }
    const big = await post('/v1/messages', key, { ...hello, padding: 'x'.repeat(600 * 1024) });
    expect(big.status).toBe(413);
    const malformed = await post('/v1/messages', key, '{"model": ');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    const unknown = await fetch(`${chain.gatewayUrl}/v1/complete`, { method: 'POST', headers: { 'x-api-key': key } });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { type: string } }).error.type).toBe('not_found_error');
    expect(chain.fake.requests).toEqual([]);
  });

  it('serves count_tokens and models through a node', async () => {
    const { key } = await chain.createKey();
    const count = await post('/v1/messages/count_tokens', key, { model: hello.model, messages: hello.messages });
    expect(count.status).toBe(200);
    expect(((await count.json()) as { input_tokens: number }).input_tokens).toBeGreaterThan(0);
    const models = await fetch(`${chain.gatewayUrl}/v1/models?limit=1000`, {
      headers: { authorization: `Bearer ${key}`, 'anthropic-version': '2023-06-01' },
    });
    expect(models.status).toBe(200);
    expect(((await models.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
  });
});

describe('admin API', () => {
  it('requires the admin token and validates bodies', async () => {
    expect((await fetch(`${chain.gatewayUrl}/admin/keys`)).status).toBe(401);
    expect((await fetch(`${chain.gatewayUrl}/admin/keys`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(
      401,
    );
    const bad = await chain.admin('POST', '/keys', { name: '', rpm: -1 });
    expect(bad.status).toBe(400);
    const text = await bad.text();
    expect(text).toMatch(/name/);
    expect(text).toMatch(/rpm/);
    expect((await chain.admin('PATCH', '/keys/does-not-exist', { enabled: false })).status).toBe(404);
    const nodes = (await (await chain.admin('GET', '/nodes')).json()) as {
      nodes: { nodeId: string; version: string }[];
    };
    expect(nodes.nodes.map((n) => n.nodeId).sort()).toEqual(['node-a', 'node-b']);
  });
});
