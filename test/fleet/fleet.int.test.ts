// The fleet as operators run it: two gateway replicas, two node-agents that dial in to both, real processes on
// loopback. Clients through either replica, stickiness across replicas, a replica lost and back, a node killed
// mid-stream, revocation, and a node restored on an empty volume from its sealed copy.
import { randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import Anthropic from '@anthropic-ai/sdk';
import { Redis } from 'ioredis';
import { testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(120_000);

let chain: Stack;
let key: string;
let redis: Redis;

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), gateways: 2 });
  await chain.waitReady();
  key = (await chain.createKey()).key;
  redis = new Redis(testRedisUrl());
});
afterAll(async () => {
  await chain?.stop();
  redis?.disconnect();
});

const hello = { model: 'claude-sonnet-4-6', max_tokens: 64, messages: [{ role: 'user' as const, content: 'hello' }] };

async function listedNodes(replica: number): Promise<string[]> {
  const res = await chain.admin('GET', '/nodes', undefined, replica);
  const body = (await res.json()) as { nodes: { nodeId: string; state: string }[] };
  return body.nodes
    .filter((n) => n.state === 'available')
    .map((n) => n.nodeId)
    .sort();
}

function messagesServedBy(): (string | undefined)[] {
  return chain.fake.requests.filter((r) => r.route === 'messages').map((r) => r.accountId);
}

function sdk(replica: number): Anthropic {
  return new Anthropic({ baseURL: (chain.gateways[replica] as { url: string }).url, apiKey: key, maxRetries: 0 });
}

describe('two replicas, two nodes dialling in', () => {
  it('every replica reaches every node, and the official SDK works through either', async () => {
    expect(await listedNodes(0)).toEqual(['node-a', 'node-b']);
    expect(await listedNodes(1)).toEqual(['node-a', 'node-b']);
    for (const replica of [0, 1]) {
      const msg = await sdk(replica).messages.create(hello);
      expect(msg.content.some((b) => b.type === 'text')).toBe(true);
      const streamed = await sdk(replica).messages.stream(hello).finalMessage();
      expect(streamed.usage.output_tokens).toBeGreaterThan(0);
    }
  });

  it('a conversation keeps its account whichever replica a turn arrives at', async () => {
    chain.fake.reset();
    const session = randomUUID();
    await sdk(0).messages.create(hello, { headers: { 'x-claude-code-session-id': session } });
    // The first replica records the conversation's node in Redis after the answer (never on the request path).
    await waitFor(
      'the conversation recorded in Redis',
      async () => (await redis.keys(`${chain.prefix}sticky:*`)).length > 0,
      { timeoutMs: 10_000, intervalMs: 100, retryErrors: true },
    );
    for (let turn = 1; turn < 6; turn++) {
      await sdk(turn % 2).messages.create(hello, { headers: { 'x-claude-code-session-id': session } });
    }
    const served = messagesServedBy();
    expect(served).toHaveLength(6);
    expect(new Set(served).size).toBe(1);
  });

  it('a replica killed: nodes keep serving through the other, and dial back in when it returns', async () => {
    const second = chain.gateways[1]!;
    second.svc.proc.kill('SIGKILL');
    await second.svc.exited();
    for (let i = 0; i < 4; i++) expect((await sdk(0).messages.create(hello)).content.length).toBeGreaterThan(0);
    await chain.startGateway(1);
    await waitFor('both nodes on the restarted replica', async () => (await listedNodes(1)).length === 2, {
      timeoutMs: 40_000,
      intervalMs: 100,
      retryErrors: true,
    });
    expect((await sdk(1).messages.create(hello)).content.length).toBeGreaterThan(0);
  });
});

describe('nodes lost and restored', () => {
  it('a node killed with kill -9 mid-stream: the client gets the terminal error, and the replicas drop it within 15 s', async () => {
    chain.fake.setTiming({ deltaIntervalMs: 200, textDeltas: 60 });
    const session = randomUUID();
    const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': key,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
        'x-claude-code-session-id': session,
      },
      body: JSON.stringify({ ...hello, stream: true }),
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(first.done).toBe(false);
    const serving = chain.fake.requests.filter((r) => r.route === 'messages').at(-1)?.accountId;
    const nodeId = Object.keys(chain.nodes).find((id) => chain.nodes[id]!.accountId === serving)!;
    chain.nodes[nodeId]!.svc.proc.kill('SIGKILL');
    let rest = '';
    for (;;) {
      const chunk = await reader.read();
      if (chunk.done) break;
      rest += Buffer.from(chunk.value).toString('utf8');
    }
    expect(rest).toContain('event: error');
    expect(rest).not.toContain('event: message_stop');
    await waitFor(
      `${nodeId} dropped by both replicas`,
      async () => {
        const [a, b] = [await listedNodes(0), await listedNodes(1)];
        return !a.includes(nodeId) && !b.includes(nodeId);
      },
      { timeoutMs: 30_000, intervalMs: 100, retryErrors: true },
    );
    chain.fake.setTiming({ deltaIntervalMs: 0, textDeltas: 3 });
    // New conversations go to the node left.
    expect((await sdk(0).messages.create(hello)).content.length).toBeGreaterThan(0);
  });

  it('a node on an empty volume restores its login from the sealed copy and serves without logging in again', async () => {
    const nodeId = Object.keys(chain.nodes).find(
      (id) => chain.nodes[id]!.svc.proc.exitCode !== null || chain.nodes[id]!.svc.proc.signalCode !== null,
    )!;
    const node = chain.nodes[nodeId]!;
    rmSync(node.dir, { recursive: true, force: true });
    // No account in the environment: only NODE_ID, NODE_TOKEN and GATEWAY_URL say who it is.
    const { CLAUDE_REFRESH_TOKEN: _dropped, ...withoutLogin } = node.env;
    node.env = withoutLogin;
    await chain.startNode(nodeId);
    await waitFor(
      `${nodeId} back on both replicas`,
      async () => (await listedNodes(0)).includes(nodeId) && (await listedNodes(1)).includes(nodeId),
      { timeoutMs: 30_000, intervalMs: 100, retryErrors: true },
    );
    chain.fake.reset();
    const session = randomUUID();
    // Enough new conversations that the restored node serves some (they spread at random among idle nodes: 16 miss it once in 2^16 runs).
    for (let i = 0; i < 16; i++)
      await sdk(i % 2).messages.create(hello, { headers: { 'x-claude-code-session-id': `${session}-${i}` } });
    expect(messagesServedBy()).toContain(node.accountId);
  });

  // Every replica polls the enrolments each second; across processes on a loaded machine the limit is only generous.
  it('a revoked node is cut off by every replica and cannot join again', async () => {
    const revoked = await chain.admin('DELETE', '/nodes/node-b');
    expect(revoked.status).toBe(200);
    await waitFor(
      'node-b gone from both replicas',
      async () => {
        const [a, b] = [await listedNodes(0), await listedNodes(1)];
        return !a.includes('node-b') && !b.includes('node-b');
      },
      { timeoutMs: 30_000, intervalMs: 100, retryErrors: true },
    );
    // It keeps trying and keeps being refused.
    await chain.nodes['node-b']!.svc.waitForOutput(/refused/i, 15_000);
    chain.fake.reset();
    for (let i = 0; i < 4; i++)
      await sdk(i % 2).messages.create(hello, { headers: { 'x-claude-code-session-id': randomUUID() } });
    expect(new Set(messagesServedBy())).toEqual(new Set(['acct-node-a']));
  });
});
