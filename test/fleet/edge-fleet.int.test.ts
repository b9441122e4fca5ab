// The fleet behind the edge as the stack runs it: two gateway replicas (gateway-1, gateway-2) behind Debian's caddy
// running the repo's deploy/Caddyfile unchanged, two node-agents that know only the edge's URL. Each node reaches
// both replicas through the edge (the replica header), and clients through the edge reach both nodes.
// Skipped where caddy is not installed (.ci/run installs it).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { freePort, testRedisUrl, startStack, type Stack, type StackGateway, waitFor } from '@switchyard/testkit';

jest.setTimeout(120_000);

const hasCaddy = spawnSync('caddy', ['version'], { encoding: 'utf8' }).status === 0;

async function startCaddy(gateways: readonly StackGateway[]): Promise<{ url: string; stop(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'sy-edge-fleet-'));
  const port = await freePort();
  const internal = await freePort();
  const caddy: ChildProcess = spawn(
    'caddy',
    ['run', '--config', join(process.cwd(), 'deploy/Caddyfile'), '--adapter', 'caddyfile'],
    {
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dir,
        XDG_DATA_HOME: dir,
        XDG_CONFIG_HOME: dir,
        SITE_ADDRESS: `:${port}`,
        EDGE_INTERNAL_ADDRESS: `http://:${internal}`,
        GATEWAY_1_UPSTREAM: `127.0.0.1:${gateways[0]!.port}`,
        GATEWAY_2_UPSTREAM: `127.0.0.1:${gateways[1]!.port}`,
        EDGE_ADMIN: 'off',
      },
      stdio: 'ignore',
    },
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor(
    'caddy to serve the edge',
    () =>
      fetch(`${url}/health`).then(
        (r) => r.status === 200,
        () => false,
      ),
    { timeoutMs: 20_000, intervalMs: 100 },
  );
  return {
    url,
    async stop() {
      if (caddy.exitCode === null) {
        const exited = new Promise((r) => caddy.once('exit', r));
        caddy.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

(hasCaddy ? describe : describe.skip)('two replicas and two nodes behind caddy with the repo’s Caddyfile', () => {
  let chain: Stack;
  let edgeUrl = '';

  beforeAll(async () => {
    chain = await startStack({
      redisUrl: testRedisUrl(),
      gateways: 2,
      gatewayIds: ['gateway-1', 'gateway-2'],
      edge: async (gateways) => {
        const edge = await startCaddy(gateways);
        edgeUrl = edge.url;
        return edge;
      },
    });
    await chain.waitReady();
  });
  afterAll(async () => {
    await chain?.stop();
  });

  it('every node dials both replicas through the edge, and the SDK through the edge reaches both accounts', async () => {
    for (const replica of [0, 1]) {
      const listed = (await (await chain.admin('GET', '/nodes', undefined, replica)).json()) as {
        nodes: { nodeId: string }[];
      };
      expect(listed.nodes.map((n) => n.nodeId).sort()).toEqual(['node-a', 'node-b']);
    }
    const { key } = await chain.createKey();
    const sdk = new Anthropic({ baseURL: edgeUrl, apiKey: key, maxRetries: 0 });
    chain.fake.reset();
    // New conversations spread at random among equally idle nodes: 16 miss one node once in 2^15 runs.
    for (let i = 0; i < 16; i++) {
      const msg = await sdk.messages.create(
        { model: 'claude-sonnet-4-6', max_tokens: 32, messages: [{ role: 'user', content: 'hello' }] },
        { headers: { 'x-claude-code-session-id': randomUUID() } },
      );
      expect(msg.content.length).toBeGreaterThan(0);
    }
    const streamed = await sdk.messages
      .stream({ model: 'claude-sonnet-4-6', max_tokens: 32, messages: [{ role: 'user', content: 'hello' }] })
      .finalMessage();
    expect(streamed.usage.output_tokens).toBeGreaterThan(0);
    const accounts = new Set(chain.fake.requests.filter((r) => r.route === 'messages').map((r) => r.accountId));
    expect(accounts).toEqual(new Set(['acct-node-a', 'acct-node-b']));
  });
});
