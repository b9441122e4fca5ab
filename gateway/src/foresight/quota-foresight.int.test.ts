// Quota foresight end to end: a scripted burn on the fake upstream's 5-hour window (every answer carries the unified
// headers), relayed by a real node-agent to a real gateway, read back from GET /admin/nodes; the fleet_exhaustion
// alert raised by the gateway and recorded by the usage worker (GET /admin/alerts).
import { testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';
import { DEFAULT_HISTORY_OPTIONS, type NodeForesight } from './index.js';

jest.setTimeout(180_000);

const HOUR = 3_600_000;
let chain: Stack;

beforeAll(async () => {
  chain = await startStack({ redisUrl: testRedisUrl(), worker: true, nodeIds: ['node-a', 'node-b'] });
  await chain.waitReady();
});
afterAll(async () => {
  await chain?.stop();
});

interface Summary {
  nodeId: string;
  adminDrained: boolean;
  foresight: NodeForesight | null;
}

async function nodes(): Promise<Summary[]> {
  const res = await chain.admin('GET', '/nodes');
  if (res.status !== 200) throw new Error(`GET /admin/nodes: ${res.status}`);
  return ((await res.json()) as { nodes: Summary[] }).nodes;
}

async function ask(key: string, i: number): Promise<void> {
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({
      model: 'claude-sonnet-4-6',
      max_tokens: 64,
      messages: [{ role: 'user', content: `burn ${i}` }],
    }),
  });
  expect(res.status).toBe(200);
  await res.arrayBuffer();
}

it('shows the burn and when node-a runs out from its scripted readings, and raises fleet_exhaustion once node-b no longer serves', async () => {
  // node-b out of rotation (drained): every request goes to node-a, and the fleet that serves is node-a alone.
  expect((await chain.admin('POST', '/nodes/node-b/drain')).status).toBe(200);
  await waitFor(
    'node-b drained',
    async () => ((await nodes()).find((n) => n.nodeId === 'node-b')?.adminDrained ? true : undefined),
    { timeoutMs: 30_000, intervalMs: 100, detail: () => chain.gateway.output() },
  );
  const { key } = await chain.createKey();
  // A new 5-hour period (its reset moved forward: the history starts over), then utilization rising 0.30 → 0.70.
  const resetSec = Math.ceil(Date.now() / HOUR) * 3600 + 4.5 * 3600;
  const steps = [0.3, 0.4, 0.5, 0.6, 0.7];
  let firstAskedAt = 0;
  let firstSeenAt = 0;
  let last: NodeForesight | undefined;
  for (const [i, utilization] of steps.entries()) {
    chain.fake.setUtilization('acct-node-a', { fiveHour: utilization, fiveHourResetsAt: resetSec });
    if (i === 0) firstAskedAt = Date.now();
    await ask(key, i);
    // Listing the fleet reads every node's windows (the gateway also reads them every 10 s on its own).
    last = await waitFor(
      `node-a at ${utilization}`,
      async () => {
        const a = (await nodes()).find((n) => n.nodeId === 'node-a')?.foresight ?? undefined;
        return a?.fiveHour?.utilization === utilization ? a : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, detail: () => chain.gateway.output() },
    );
    if (i === 0) firstSeenAt = last.at;
  }
  const foresight = last as NodeForesight;
  const window = foresight.fiveHour;
  if (window === undefined) throw new Error('node-a has no 5-hour foresight');

  // The period's first reading was taken between the first request and the listing that showed it.
  expect(window.since).not.toBeNull();
  const since = window.since as number;
  expect(since).toBeGreaterThanOrEqual(firstAskedAt);
  expect(since).toBeLessThanOrEqual(firstSeenAt);
  expect(window.samples).toBeGreaterThanOrEqual(2);
  expect(window.resetAt).toBe(resetSec * 1000);
  // The burn is the rise since that reading over the time since (never less than the minimum span), per hour; at it
  // the remaining 0.30 is gone at exhaustsAt, before the reset.
  const span = Math.max(foresight.at - since, DEFAULT_HISTORY_OPTIONS.minSpanMs);
  const burn = ((0.7 - 0.3) / span) * HOUR;
  expect(window.burnPerHour).toBeCloseTo(burn, 9);
  expect(window.exhaustsAt).toBe(Math.round(foresight.at + (0.3 / window.burnPerHour) * HOUR));
  expect(window.exhaustsAt as number).toBeLessThan(resetSec * 1000);
  // The 7-day window does not move: it lasts; the node runs out when its 5-hour window does.
  expect(foresight.sevenDay).toMatchObject({ burnPerHour: 0, exhaustsAt: null });
  expect(foresight.exhaustsAt).toBe(window.exhaustsAt);

  // The only serving node runs out before its reset: one fleet_exhaustion alert, named after that reset.
  const id = `fleet_exhaustion:${resetSec * 1000}`;
  const alert = await waitFor(
    'the fleet_exhaustion alert',
    async () => {
      await nodes();
      const res = await chain.admin('GET', '/alerts');
      const { alerts } = (await res.json()) as {
        alerts: { id: string; type: string; message: string; data: Record<string, unknown> }[];
      };
      return alerts.find((a) => a.id === id);
    },
    { timeoutMs: 30_000, intervalMs: 100, detail: () => chain.gateway.output() },
  );
  expect(alert).toMatchObject({
    type: 'fleet_exhaustion',
    data: { servingNodes: 1, limitedNodes: 0, earliestResetAt: resetSec * 1000 },
  });
  expect(alert.message).toContain(new Date(resetSec * 1000).toISOString());
  await nodes();
  const { alerts } = (await (await chain.admin('GET', '/alerts')).json()) as { alerts: { type: string }[] };
  expect(alerts.filter((a) => a.type === 'fleet_exhaustion')).toHaveLength(1);
  await chain.admin('POST', '/nodes/node-b/resume');
});
