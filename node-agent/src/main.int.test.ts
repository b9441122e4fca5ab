// The node-agent as a process, started the way an operator starts it (through tsx from source) with nothing but
// its own environment, dialling in to a stand-in gateway on loopback: no Redis anywhere, SIGTERM during a stream,
// a second process with the same id, egress binding, startup refusals, and logs that never carry a token.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NodeTokens, TunnelHeaders } from '@switchyard/shared';
import {
  createFakeAnthropic,
  fakeMessagesBody,
  freePort,
  spawnService,
  startOtlpReceiver,
  type FakeAnthropic,
  type SpawnedService,
  waitFor,
} from '@switchyard/testkit';
import { startTestGateway, type PeerTunnel, type TestGateway, type UpgradeAnswer } from './fleet/test-harness.js';
import { call } from './http/test-harness.js';

const ENTRY = 'node-agent/src/main.ts';
const TOKEN = NodeTokens.generate();

let fake: FakeAnthropic;
let gw: TestGateway;
let dir: string;
const running: SpawnedService[] = [];

beforeAll(async () => {
  fake = createFakeAnthropic({
    accounts: [
      { id: 'acct-1', email: 'one@example.test' },
      { id: 'key-1', kind: 'api_key' },
    ],
  });
  await fake.start();
});
afterAll(() => fake.stop());
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sy-node-'));
  fake.reset();
  gw = await startTestGateway();
});
afterEach(async () => {
  for (const s of running.splice(0)) s.kill();
  await gw.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Starts a node process with exactly `env` (plus PATH and HOME); `waitReady` waits for its start line. */
async function startNode(
  env: Record<string, string>,
  waitReady = true,
): Promise<{ svc: SpawnedService; localUrl: string }> {
  const port = env.PORT ?? String(await freePort());
  const svc = spawnService(ENTRY, { ...env, PORT: port });
  running.push(svc);
  if (waitReady) await svc.waitForOutput(/node-agent started/);
  return { svc, localUrl: `http://127.0.0.1:${port}` };
}

/** What an operator puts in a node's .env for an OAuth account, against the stand-in gateway and the fake upstream. */
function oauthEnv(nodeId: string, more: Record<string, string> = {}): Record<string, string> {
  return {
    GATEWAY_URL: gw.url,
    NODE_ID: nodeId,
    NODE_TOKEN: TOKEN,
    ANTHROPIC_BASE_URL: fake.url,
    ANTHROPIC_OAUTH_TOKEN_URL: `${fake.url}/v1/oauth/token`,
    CREDENTIALS_DIR: dir,
    TUNNEL_PING_INTERVAL_MS: '200',
    TUNNEL_PING_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'debug',
    ...more,
  };
}

const hello = fakeMessagesBody();
const tunnelOf = (nodeId: string) => gw.waitForTunnel((t) => t.headers[TunnelHeaders.nodeId] === nodeId, 20_000);

describe('node-agent process', () => {
  it('a node started with no Redis anywhere in its environment serves requests', async () => {
    const env = {
      GATEWAY_URL: gw.url,
      NODE_ID: 'standalone',
      NODE_TOKEN: TOKEN,
      ANTHROPIC_API_KEY: fake.account('key-1').apiKey!,
      ANTHROPIC_BASE_URL: fake.url,
      PORT: String(await freePort()),
    };
    expect(Object.keys(env).filter((k) => /REDIS|UPSTASH|SECRET/.test(k))).toEqual([]);
    const { svc, localUrl } = await startNode(env);
    const tunnel = await tunnelOf('standalone');
    const res = await call(tunnel, { body: hello });
    expect(res.status).toBe(200);
    expect(fake.requests.at(-1)).toMatchObject({ authKind: 'api_key', accountId: 'key-1' });
    expect((await tunnel.waitForReport(() => true)).accountKind).toBe('api_key');
    // Its own listener: loopback, health only.
    const health = await call(localUrl, { method: 'GET', path: '/health' });
    expect(JSON.parse(health.body.toString())).toMatchObject({ status: 'ok', nodeId: 'standalone', tunnels: 1 });
    expect((await call(localUrl, { body: hello })).status).toBe(404);
    expect(svc.output()).not.toMatch(/redis/i);
  });

  it('SIGTERM during a stream: draining is reported at once, new requests get 503, the stream completes, exit 0', async () => {
    fake.setTiming({ deltaIntervalMs: 40, textDeltas: 20 });
    try {
      const { svc } = await startNode(
        oauthEnv('drain-node', { CLAUDE_REFRESH_TOKEN: fake.issueRefreshToken('acct-1') }),
      );
      const tunnel = await tunnelOf('drain-node');
      const stream = call(tunnel, { body: fakeMessagesBody({ stream: true }) });
      await waitFor('the stream reached upstream', () => fake.requests.some((r) => r.route === 'messages'), 10_000);
      svc.proc.kill('SIGTERM');
      await tunnel.waitForReport((r) => r.state.state === 'draining', 10_000);
      const during = await call(tunnel, { body: hello }).catch(() => undefined);
      if (during) expect(during.status).toBe(503);
      const res = await stream;
      expect(res.status).toBe(200);
      expect(res.body.toString()).toContain('event: message_stop');
      expect(await svc.exited()).toEqual({ code: 0, signal: null });
      await waitFor('the tunnel closed', () => tunnel.closed, 5_000);
      expect(svc.output()).toMatch(/"message":"stopped"/);
    } finally {
      fake.setTiming({ deltaIntervalMs: 0, textDeltas: 3 });
    }
  });

  it('a second process with the same node id: refused while the first holds it, says so once, joins when the first leaves', async () => {
    // The gateway's rule, played by the stand-in: the first instance holds the id while it has a tunnel open.
    let holder: { instance: string; tunnel?: PeerTunnel } | undefined;
    gw.answer = (req: IncomingMessage): UpgradeAnswer => {
      const instance = req.headers[TunnelHeaders.instance] as string;
      const held =
        holder !== undefined && holder.instance !== instance && (holder.tunnel === undefined || !holder.tunnel.closed);
      if (held)
        return { kind: 'refuse', status: 409, code: 'duplicate_node', message: 'another process holds this node id' };
      holder = { instance };
      return { kind: 'accept' };
    };
    const env = {
      GATEWAY_URL: gw.url,
      NODE_ID: 'twin',
      NODE_TOKEN: TOKEN,
      ANTHROPIC_API_KEY: fake.account('key-1').apiKey!,
      ANTHROPIC_BASE_URL: fake.url,
    };
    const first = await startNode(env);
    const held = await tunnelOf('twin');
    holder!.tunnel = held;
    const second = await startNode(env);
    await waitFor(
      'three refusals of the second process',
      () => gw.dials.filter((d) => d.status === 409).length >= 3,
      20_000,
    );
    expect(second.svc.output().match(/another process holds this node id/g)).toHaveLength(1);
    first.svc.proc.kill('SIGTERM');
    expect((await first.svc.exited()).code).toBe(0);
    const taken = await gw.waitForTunnel(
      (t) => t.headers[TunnelHeaders.instance] !== held.headers[TunnelHeaders.instance],
      40_000,
    );
    expect((await call(taken, { body: hello })).status).toBe(200);
  }, 60_000);

  it('with EGRESS_LOCAL_ADDRESS=127.0.0.2, token and API traffic both leave from 127.0.0.2', async () => {
    await startNode(
      oauthEnv('egress-node', {
        EGRESS_LOCAL_ADDRESS: '127.0.0.2',
        CLAUDE_REFRESH_TOKEN: fake.issueRefreshToken('acct-1'),
      }),
    );
    expect((await call(await tunnelOf('egress-node'), { body: hello })).status).toBe(200);
    expect(fake.tokenRequests.length).toBeGreaterThan(0);
    expect(new Set(fake.tokenRequests.map((r) => r.remoteAddress))).toEqual(new Set(['127.0.0.2']));
    const api = fake.requests.filter((r) => r.route === 'messages');
    expect(api.map((r) => r.remoteAddress)).toEqual(['127.0.0.2']);
  });

  it('with an OTLP endpoint: one "tracing on" line, and the spans, under the tunnel hop, exported by the exit', async () => {
    const otlp = await startOtlpReceiver();
    try {
      const { svc } = await startNode({
        GATEWAY_URL: gw.url,
        NODE_ID: 'traced-node',
        NODE_TOKEN: TOKEN,
        ANTHROPIC_API_KEY: fake.account('key-1').apiKey!,
        ANTHROPIC_BASE_URL: fake.url,
        OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
        OTEL_EXPORTER_OTLP_HEADERS: 'x-collector-key=collector-secret-7d1e0c',
      });
      const started = svc.output();
      expect(started.match(/"message":"tracing on"/g)).toHaveLength(1);
      expect(started).toContain(`"collector":"${new URL(otlp.url).origin}"`);
      const traceId = randomBytes(16).toString('hex');
      const hopSpanId = randomBytes(8).toString('hex');
      const res = await call(await tunnelOf('traced-node'), {
        headers: { traceparent: `00-${traceId}-${hopSpanId}-01` },
        body: hello,
      });
      expect(res.status).toBe(200);
      svc.proc.kill('SIGTERM');
      expect(await svc.exited()).toEqual({ code: 0, signal: null });

      // Shutdown exported what the batch still held before the exit: no wait here.
      const spans = otlp.spans().filter((s) => s.traceId === traceId);
      expect(spans.map((s) => `${s.kind} ${s.name}`).sort()).toEqual([
        'CLIENT chat claude-sonnet-4-6',
        'INTERNAL credential',
        'SERVER POST /v1/messages',
      ]);
      const server = spans.find((s) => s.kind === 'SERVER')!;
      expect(server.parentSpanId).toBe(hopSpanId);
      expect(server).toMatchObject({ service: 'switchyard-node-agent', scope: 'switchyard' });
      expect(server.resource['service.instance.id']).toBe('traced-node');
      const out = svc.output();
      expect(out).toMatch(new RegExp(`"message":"request done".*"traceId":"${traceId}"`));
      expect(out).not.toContain('collector-secret-7d1e0c');
      expect(JSON.stringify(fake.requests.at(-1)!.headers)).not.toContain(traceId);
    } finally {
      await otlp.close();
    }
  });

  it('never writes a token to its log, through start, refresh, traffic and shutdown', async () => {
    const refresh = fake.issueRefreshToken('acct-1');
    const { svc } = await startNode(oauthEnv('log-node', { CLAUDE_REFRESH_TOKEN: refresh }));
    expect((await call(await tunnelOf('log-node'), { body: hello })).status).toBe(200);
    const stored = JSON.parse(readFileSync(join(dir, 'log-node.json'), 'utf8')) as {
      access?: string;
      refresh?: string;
    };
    svc.proc.kill('SIGTERM');
    await svc.exited();
    const planted = [refresh, stored.access, stored.refresh, TOKEN].filter(
      (t): t is string => typeof t === 'string' && t.length > 20,
    );
    expect(planted.length).toBe(4);
    const out = svc.output();
    expect(out).toContain('node-agent started');
    expect(planted.filter((t) => out.includes(t))).toEqual([]);
  });

  it('a refused node token: one line naming the fix, and the node keeps running (it retries at the slow end)', async () => {
    gw.answer = () => ({
      kind: 'refuse',
      status: 401,
      code: 'unauthenticated',
      message: 'unknown node, wrong token or revoked',
    });
    const { svc } = await startNode({
      GATEWAY_URL: gw.url,
      NODE_ID: 'revoked',
      NODE_TOKEN: TOKEN,
      ANTHROPIC_API_KEY: 'k',
      ANTHROPIC_BASE_URL: fake.url,
    });
    await svc.waitForOutput(/node token refused \(revoked or wrong\)/);
    await new Promise((r) => setTimeout(r, 500));
    expect(svc.proc.exitCode).toBeNull();
    expect(svc.output().match(/node token refused \(revoked or wrong\)/g)).toHaveLength(1);
    expect(svc.output()).toMatch(/switchyard nodes add revoked/);
    expect(svc.output()).not.toContain(TOKEN);
  });

  it('refuses to start without an account, naming the variables and the fix', async () => {
    const { svc } = await startNode(oauthEnv('no-account'), false);
    expect((await svc.exited()).code).toBe(1);
    expect(svc.output()).toMatch(/CLAUDE_REFRESH_TOKEN/);
    expect(svc.output()).toMatch(/login/);
  });

  it('refuses a malformed credentials file, a plain-http public gateway and a bad node token, naming the variable and the fix', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(file, '{"claudeAiOauth": {"accessToken": 1}}');
    const bad = await startNode(oauthEnv('bad-file', { CLAUDE_CREDENTIALS_FILE: file }), false);
    expect((await bad.svc.exited()).code).toBe(1);
    expect(bad.svc.output()).toContain('CLAUDE_CREDENTIALS_FILE');

    const plain = await startNode(
      { GATEWAY_URL: 'http://gateway.example.com', NODE_ID: 'plain', NODE_TOKEN: TOKEN, ANTHROPIC_API_KEY: 'k' },
      false,
    );
    expect((await plain.svc.exited()).code).toBe(1);
    expect(plain.svc.output()).toMatch(/GATEWAY_URL: plain http .*GATEWAY_ALLOW_HTTP=true/);

    const token = await startNode(
      { GATEWAY_URL: gw.url, NODE_ID: 'bad-token', NODE_TOKEN: 'syn-short', ANTHROPIC_API_KEY: 'k' },
      false,
    );
    expect((await token.svc.exited()).code).toBe(1);
    expect(token.svc.output()).toMatch(/NODE_TOKEN: is not a node token.*switchyard nodes add/);
    expect(gw.dials).toEqual([]);
  });
});
