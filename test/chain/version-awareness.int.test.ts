// Every process says which build it runs, and a fleet on more than one build shows at a glance: a real
// gateway and two node-agents (each at its own package's version, with the GIT_SHA it was given), a third
// node on a newer build dialled in through a real tunnel, the usage worker, and the CLI as operators run it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { freePort, spawnService, testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';
import { dialGateway, testReport } from '../../gateway/src/tunnel/test-harness.js';

jest.setTimeout(90_000);

const versionOf = (pkg: string): string =>
  (JSON.parse(readFileSync(`${pkg}/package.json`, 'utf8')) as { version: string }).version;
const GATEWAY_VERSION = versionOf('gateway');
const NODE_VERSION = versionOf('node-agent');
const GATEWAY_SHA = 'a1b2c3d4e5f6';
const NODE_SHA = 'abc1234def56';
const NEWER_SHA = 'def5678abc12';
const METRICS_TOKEN = randomBytes(32).toString('hex');

interface NodeList {
  nodes: { nodeId: string; version: string; gitSha: string }[];
  versions: { version: string; gitSha: string; nodes: string[] }[];
  mixedVersions: boolean;
  gateway: { version: string; gitSha: string };
}

let chain: Stack;

beforeAll(async () => {
  chain = await startStack({
    redisUrl: testRedisUrl(),
    gatewayEnv: { GIT_SHA: GATEWAY_SHA },
    nodeEnv: { GIT_SHA: NODE_SHA, METRICS_TOKEN },
  });
  await chain.waitReady();
});
afterAll(async () => {
  await chain?.stop();
});

async function nodeList(): Promise<NodeList> {
  return (await (await chain.admin('GET', '/nodes')).json()) as NodeList;
}

async function waitForList(done: (list: NodeList) => boolean): Promise<NodeList> {
  let last: NodeList | undefined;
  return waitFor(
    'GET /admin/nodes to settle',
    async () => {
      last = await nodeList();
      return done(last) && last;
    },
    { timeoutMs: 15_000, intervalMs: 100, detail: () => JSON.stringify(last) },
  );
}

async function cliNodesList(): Promise<string> {
  const cli = spawnService(
    'cli/src/main.ts',
    { SWITCHYARD_URL: chain.gatewayUrl, SWITCHYARD_ADMIN_TOKEN: chain.adminToken },
    { args: ['nodes', 'list'] },
  );
  const { code } = await cli.exited();
  expect(code).toBe(0);
  return cli.output();
}

/** The one `switchyard_build_info` series of a /metrics page. */
function buildInfo(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('switchyard_build_info{'));
}

describe('version awareness', () => {
  it('each process reports its version and git sha: /health, its state reports, /metrics', async () => {
    expect(await (await fetch(`${chain.gatewayUrl}/health`)).json()).toEqual({
      status: 'ok',
      version: GATEWAY_VERSION,
      gitSha: GATEWAY_SHA,
    });
    const gatewayMetrics = await (
      await fetch(`${chain.gatewayUrl}/metrics`, { headers: { authorization: `Bearer ${chain.metricsToken}` } })
    ).text();
    expect(buildInfo(gatewayMetrics)).toEqual([
      `switchyard_build_info{service="gateway",version="${GATEWAY_VERSION}",git_sha="${GATEWAY_SHA}"} 1`,
    ]);

    const node = chain.nodes['node-a']!;
    const nodeUrl = `http://127.0.0.1:${node.env.PORT}`;
    expect(await (await fetch(`${nodeUrl}/health`)).json()).toMatchObject({
      status: 'ok',
      nodeId: 'node-a',
      version: NODE_VERSION,
      gitSha: NODE_SHA,
    });
    const nodeMetrics = await (
      await fetch(`${nodeUrl}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();
    expect(buildInfo(nodeMetrics)).toEqual([
      `switchyard_build_info{service="node-agent",version="${NODE_VERSION}",git_sha="${NODE_SHA}"} 1`,
    ]);
    const list = await nodeList();
    expect(list.nodes.map((n) => [n.nodeId, n.version, n.gitSha])).toEqual([
      ['node-a', NODE_VERSION, NODE_SHA],
      ['node-b', NODE_VERSION, NODE_SHA],
    ]);
    expect(list).toMatchObject({
      versions: [{ version: NODE_VERSION, gitSha: NODE_SHA, nodes: ['node-a', 'node-b'] }],
      mixedVersions: false,
      gateway: { version: GATEWAY_VERSION, gitSha: GATEWAY_SHA },
    });
  });

  it('the usage worker answers GET /health on its metrics port without the token, and reports its build on /metrics', async () => {
    const port = await freePort();
    await chain.startWorker({ METRICS_PORT: String(port), HOST: '127.0.0.1', METRICS_TOKEN, GIT_SHA: GATEWAY_SHA });
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok', version: GATEWAY_VERSION, gitSha: GATEWAY_SHA });
    // /metrics keeps its token; /health carries no data.
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(401);
    const metrics = await (
      await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    ).text();
    expect(buildInfo(metrics)).toEqual([
      `switchyard_build_info{service="worker",version="${GATEWAY_VERSION}",git_sha="${GATEWAY_SHA}"} 1`,
    ]);
  });

  it('a node on a newer build makes the fleet mixed: grouped by build in GET /admin/nodes and in `switchyard nodes list`', async () => {
    // A node mid-roll-out, enrolled and dialled in as a node-agent would, reporting a newer build (it is never sent traffic here).
    const enrolled = await chain.admin('POST', '/nodes', { id: 'node-c' });
    expect(enrolled.status).toBe(201);
    const { token } = (await enrolled.json()) as { token: string };
    const server = createServer((_req, res) => res.writeHead(503).end());
    const dialled = await dialGateway(chain.gatewayUrl, {
      nodeId: 'node-c',
      token,
      server,
      report: testReport('node-c', { version: '9.0.0', gitSha: NEWER_SHA }),
    });
    if (!dialled.ok) throw new Error(`node-c was refused: ${dialled.status}`);
    try {
      const list = await waitForList((l) => l.nodes.some((n) => n.nodeId === 'node-c'));
      expect(list.mixedVersions).toBe(true);
      expect(list.versions).toEqual([
        { version: '9.0.0', gitSha: NEWER_SHA, nodes: ['node-c'] },
        { version: NODE_VERSION, gitSha: NODE_SHA, nodes: ['node-a', 'node-b'] },
      ]);

      const out = await cliNodesList();
      expect(out).toContain(`versions: 9.0.0 (def5678) on 1 node, ${NODE_VERSION} (abc1234) on 2 nodes — mixed\n`);
      expect(out).toContain(`gateway: ${GATEWAY_VERSION} (a1b2c3d)\n`);
    } finally {
      await dialled.peer.close();
    }

    // Once the odd node is gone the fleet is on one build again.
    const after = await waitForList((l) => !l.nodes.some((n) => n.nodeId === 'node-c'));
    expect(after.mixedVersions).toBe(false);
    const out = await cliNodesList();
    expect(out).toContain(`versions: ${NODE_VERSION} (abc1234) on 2 nodes\n`);
    expect(out).not.toContain('mixed');
  });
});
