// The node-agent as a process, started the way an operator starts it (through tsx from source):
// two processes on one account, SIGTERM during a stream, egress binding, startup refusals, and logs
// that never carry a token.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createIoRedisClient, createIoRedisStore, createKeyspace, readNodeRecords, signRequest, type SharedStore } from '@switchyard/shared';
import { createFakeAnthropic, freePort, spawnService, testRedisUrl, uniquePrefix, type FakeAnthropic, type SpawnedService } from '@switchyard/shared/testing';

const SECRET = randomBytes(32).toString('hex');
const ENTRY = 'node-agent/src/main.ts';

let fake: FakeAnthropic;
let store: SharedStore;
let dir: string;
const running: SpawnedService[] = [];

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'acct-1', email: 'one@example.test' }] });
  await fake.start();
  store = createIoRedisStore(createIoRedisClient(testRedisUrl()));
});
afterAll(async () => {
  await fake.stop();
  await store.close();
});
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'sy-node-'));
  fake.reset();
});
afterEach(() => {
  for (const s of running.splice(0)) s.kill();
  rmSync(dir, { recursive: true, force: true });
});

async function startNode(env: Record<string, string>, waitReady = true): Promise<{ svc: SpawnedService; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const svc = spawnService(ENTRY, {
    REDIS_URL: testRedisUrl(),
    NODE_PUBLIC_URL: url,
    PORT: String(port),
    HOST: '127.0.0.1',
    NODE_SHARED_SECRET: SECRET,
    ANTHROPIC_BASE_URL: fake.url,
    ANTHROPIC_OAUTH_TOKEN_URL: `${fake.url}/v1/oauth/token`,
    CREDENTIALS_DIR: dir,
    HEARTBEAT_INTERVAL_MS: '200',
    LOG_LEVEL: 'debug',
    ...env,
  });
  running.push(svc);
  if (waitReady) await svc.waitForOutput(/node-agent started/);
  return { svc, url };
}

function signedMessages(url: string, nodeId: string, body: object): Promise<Response> {
  const bytes = Buffer.from(JSON.stringify(body));
  const path = '/v1/messages?beta=true';
  const headers = signRequest(SECRET, { method: 'POST', path, nodeId, keyId: 'key_t', requestId: `req_${randomBytes(6).toString('hex')}`, body: bytes });
  return fetch(url + path, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: bytes,
  });
}

const hello = { model: 'claude-sonnet-4-6', max_tokens: 64, messages: [{ role: 'user', content: 'hello' }] };

function refreshCalls(): number {
  return fake.tokenRequests.filter((r) => r.grantType === 'refresh_token').length;
}

describe('node-agent process', () => {
  it('two processes holding one account refresh at the same moment: one rotation, both keep working', async () => {
    const prefix = uniquePrefix('node2');
    const keys = createKeyspace(prefix);
    const creds = fake.issueOAuthCredentials('acct-1');
    // An expired access token in the record both processes read at start.
    await store.set(keys.cred('shared-node'), JSON.stringify({ type: 'oauth', refresh: creds.refreshToken, access: creds.accessToken, expires: Date.now() - 1_000 }));
    const env = { NODE_ID: 'shared-node', REDIS_PREFIX: prefix };
    const [a, b] = await Promise.all([startNode(env), startNode(env)]);
    const [ra, rb] = await Promise.all([signedMessages(a.url, 'shared-node', hello), signedMessages(b.url, 'shared-node', hello)]);
    expect([ra.status, rb.status]).toEqual([200, 200]);
    expect(refreshCalls()).toBe(1);
    expect(fake.tokenRequests.filter((r) => r.outcome !== 'ok')).toEqual([]);
    const stored = JSON.parse((await store.get(keys.cred('shared-node'))) ?? '{}') as { refresh: string };
    expect(stored.refresh).not.toBe(creds.refreshToken);
    // Both keep working afterwards with the one live pair.
    expect((await signedMessages(a.url, 'shared-node', hello)).status).toBe(200);
    expect((await signedMessages(b.url, 'shared-node', hello)).status).toBe(200);
    for (const s of [a.svc, b.svc]) s.proc.kill('SIGTERM');
    await Promise.all([a.svc.exited(), b.svc.exited()]);
    await store.del(keys.cred('shared-node'));
  });

  it('SIGTERM during a stream: the stream completes, the node exits 0 and leaves the registry', async () => {
    const prefix = uniquePrefix('drain');
    const keys = createKeyspace(prefix);
    fake.setTiming({ deltaIntervalMs: 40, textDeltas: 20 });
    try {
      const { svc, url } = await startNode({ NODE_ID: 'drain-node', REDIS_PREFIX: prefix, CLAUDE_REFRESH_TOKEN: fake.issueRefreshToken('acct-1') });
      await waitFor(async () => (await readNodeRecords(store, keys)).some((n) => n.nodeId === 'drain-node'));
      const res = await signedMessages(url, 'drain-node', { ...hello, stream: true });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      const first = await reader.read();
      svc.proc.kill('SIGTERM');
      let text = Buffer.from(first.value ?? new Uint8Array()).toString();
      for (let r = await reader.read(); !r.done; r = await reader.read()) text += Buffer.from(r.value).toString();
      expect(text).toContain('event: message_stop');
      // New requests are refused while draining, so the gateway moves them elsewhere.
      const during = await signedMessages(url, 'drain-node', hello).catch(() => undefined);
      if (during) expect(during.status).toBe(503);
      expect(await svc.exited()).toEqual({ code: 0, signal: null });
      expect((await readNodeRecords(store, keys)).map((n) => n.nodeId)).not.toContain('drain-node');
    } finally {
      fake.setTiming({ deltaIntervalMs: 0, textDeltas: 3 });
    }
  });

  it('with EGRESS_LOCAL_ADDRESS=127.0.0.2, token and API traffic both leave from 127.0.0.2', async () => {
    const prefix = uniquePrefix('egress');
    const { url } = await startNode({ NODE_ID: 'egress-node', REDIS_PREFIX: prefix, EGRESS_LOCAL_ADDRESS: '127.0.0.2', CLAUDE_REFRESH_TOKEN: fake.issueRefreshToken('acct-1') });
    expect((await signedMessages(url, 'egress-node', hello)).status).toBe(200);
    expect(fake.tokenRequests.length).toBeGreaterThan(0);
    expect(new Set(fake.tokenRequests.map((r) => r.remoteAddress))).toEqual(new Set(['127.0.0.2']));
    const api = fake.requests.filter((r) => r.route === 'messages');
    expect(api.length).toBe(1);
    expect(api[0]!.remoteAddress).toBe('127.0.0.2');
    await store.del(createKeyspace(prefix).cred('egress-node'));
  });

  it('never writes a token to its log, through start, refresh, traffic and shutdown', async () => {
    const prefix = uniquePrefix('logs');
    const refresh = fake.issueRefreshToken('acct-1');
    const { svc, url } = await startNode({ NODE_ID: 'log-node', REDIS_PREFIX: prefix, CLAUDE_REFRESH_TOKEN: refresh });
    expect((await signedMessages(url, 'log-node', hello)).status).toBe(200);
    const stored = JSON.parse((await store.get(createKeyspace(prefix).cred('log-node'))) ?? '{}') as { access?: string; refresh?: string };
    svc.proc.kill('SIGTERM');
    await svc.exited();
    const planted = [refresh, stored.access, stored.refresh].filter((t): t is string => typeof t === 'string' && t.length > 20);
    expect(planted.length).toBe(3);
    const out = svc.output();
    expect(out).toContain('node-agent started');
    expect(planted.filter((t) => out.includes(t))).toEqual([]);
    expect(out).not.toContain(SECRET);
    await store.del(createKeyspace(prefix).cred('log-node'));
  });

  it('refuses to start without an account, naming the variables and the fix', async () => {
    const { svc } = await startNode({ NODE_ID: 'no-account', REDIS_PREFIX: uniquePrefix('none') }, false);
    expect((await svc.exited()).code).toBe(1);
    expect(svc.output()).toMatch(/CLAUDE_REFRESH_TOKEN/);
    expect(svc.output()).toMatch(/login/);
  });

  it('refuses a malformed credentials file and a short shared secret, naming the variable', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"claudeAiOauth": {"accessToken": 1}}');
    const bad = await startNode({ NODE_ID: 'bad-file', REDIS_PREFIX: uniquePrefix('bad'), CLAUDE_CREDENTIALS_FILE: file }, false);
    expect((await bad.svc.exited()).code).toBe(1);
    expect(bad.svc.output()).toContain('CLAUDE_CREDENTIALS_FILE');
    const short = await startNode({ NODE_ID: 'short', NODE_SHARED_SECRET: 'too-short', ANTHROPIC_API_KEY: 'k' }, false);
    expect((await short.svc.exited()).code).toBe(1);
    expect(short.svc.output()).toMatch(/NODE_SHARED_SECRET: must be at least 32 bytes/);
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 50));
  }
}
