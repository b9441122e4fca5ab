// A tunnel socket destroyed under load: a real gateway process, two nodes dialled in over real tunnels (in-process
// peers whose HTTP servers answer like the API), 200 requests 20 at a time, one node's tunnel socket destroyed
// mid-run. No request that had not started may be lost: each one that was waiting for a node goes to the other.
import { createServer, type Server } from 'node:http';
import { testRedisUrl, startStack, type Stack } from '@switchyard/testkit';
import { dialGateway, type TestNodePeer } from '../../gateway/src/tunnel/test-harness.js';

jest.setTimeout(90_000);

let chain: Stack;
const servers: Server[] = [];
const peers: Record<string, TestNodePeer> = {};
const served: Record<string, number> = { 'node-x': 0, 'node-y': 0 };

/** A node's HTTP server as the tunnel feeds it: reads the request, answers a small message after a few ms. */
function nodeServer(nodeId: string): Server {
  const server = createServer((req, res) => {
    req.resume();
    req.once('end', () => {
      setTimeout(() => {
        served[nodeId] = (served[nodeId] ?? 0) + 1;
        const body = JSON.stringify({
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          model: 'claude-sonnet-4-6',
          content: [{ type: 'text', text: nodeId }],
          stop_reason: 'end_turn',
          usage: { input_tokens: 3, output_tokens: 1 },
        });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
      }, 5);
    });
  });
  servers.push(server);
  return server;
}

beforeAll(async () => {
  // No node-agents: /ready waits for a node, so the gateway's start line is what this waits for.
  chain = await startStack({ redisUrl: testRedisUrl(), nodeIds: [] });
  for (const nodeId of ['node-x', 'node-y']) {
    const made = await chain.admin('POST', '/nodes', { id: nodeId });
    const { token } = (await made.json()) as { token: string };
    const dialled = await dialGateway(chain.gatewayUrl, { nodeId, token, server: nodeServer(nodeId) });
    if (!dialled.ok) throw new Error(`${nodeId} refused: ${dialled.status}`);
    peers[nodeId] = dialled.peer;
  }
  for (;;) {
    const listed = (await (await chain.admin('GET', '/nodes')).json()) as { nodes: { nodeId: string }[] };
    if (listed.nodes.length === 2) break;
    await new Promise((r) => setTimeout(r, 50));
  }
});
afterAll(async () => {
  for (const peer of Object.values(peers)) peer.destroy();
  for (const server of servers) server.close();
  await chain?.stop();
});

it('loses no request that had not started when a tunnel socket is destroyed under load', async () => {
  const { key } = await chain.createKey();
  const statuses: number[] = [];
  let next = 0;
  let destroyedAt: number | undefined;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let i = next++; i < 200; i = next++) {
        if (i === 60 && destroyedAt === undefined) {
          destroyedAt = statuses.length;
          peers['node-x']!.socket.destroy();
        }
        const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
          method: 'POST',
          headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
          body: JSON.stringify({
            model: 'claude-sonnet-4-6',
            max_tokens: 8,
            messages: [{ role: 'user', content: `request ${i}` }],
          }),
        });
        await res.arrayBuffer();
        statuses.push(res.status);
      }
    }),
  );
  expect(destroyedAt).toBeDefined();
  expect(statuses).toHaveLength(200);
  expect(statuses.filter((s) => s !== 200)).toEqual([]);
  // Both nodes served before the loss; after it only node-y could.
  expect(served['node-x']).toBeGreaterThan(0);
  expect(served['node-y']).toBeGreaterThan(0);
  // A request node-x had already answered when its tunnel went may have been sent again to node-y: never fewer.
  expect((served['node-x'] ?? 0) + (served['node-y'] ?? 0)).toBeGreaterThanOrEqual(200);
});
