// Alerts end to end: gateway → node-agents → fake upstream, counted by a real usage worker process that delivers
// alerts to two receivers on loopback. One answers 500 twice to every new event, then 200; the other never answers
// (it holds each connection open). A key driven past 50, 80 and 100 % of its daily token budget raises each
// threshold once, signed (verified with standardwebhooks), retried with the same webhook-id; requests go on
// completing while the hanging receiver holds its deliveries; an account the upstream limits raises account_limited.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { z } from 'zod';
import { AlertEventSchema, createKeyspace, JobCatalog, queuePrefix, utcDay, type AlertEvent } from '@switchyard/shared';
import { testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';
import { deliveryJobId } from '../../gateway/src/alerts/alert-ids.js';
import { startReceiver, type WebhookReceiver } from '../../gateway/src/usage-worker/alerts/test-harness.js';

jest.setTimeout(180_000);

const SECRET = `whsec_${randomBytes(32).toString('base64')}`;
let chain: Stack;
let redis: Redis;
let flaky: WebhookReceiver;
let hanging: WebhookReceiver;
let deliveries: Queue;

beforeAll(async () => {
  flaky = await startReceiver((attempt) => (attempt < 2 ? 500 : 200));
  hanging = await startReceiver(() => 'hang');
  // The shortest grace the gateway accepts, so the node_lost case does not wait half a minute.
  chain = await startStack({
    redisUrl: testRedisUrl(),
    gatewayEnv: { ALERT_NODE_LOST_GRACE_MS: '1000' },
    worker: {
      ALERT_WEBHOOK_URLS: `${flaky.url},${hanging.url}`,
      ALERT_WEBHOOK_SECRET: SECRET,
      ALERT_RETRY_DELAY_MS: '100',
    },
  });
  await chain.waitReady();
  redis = new Redis(testRedisUrl());
  deliveries = new Queue(JobCatalog.alertDelivery.queue, {
    connection: { url: testRedisUrl() },
    prefix: queuePrefix(chain.prefix),
  });
});
afterAll(async () => {
  await deliveries?.close();
  await chain?.stop();
  redis?.disconnect();
  await hanging?.close();
  await flaky?.close();
});

async function ask(key: string, question: string, model = 'claude-sonnet-4-6'): Promise<number> {
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: { 'x-api-key': key, 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
    body: JSON.stringify({ model, max_tokens: 64, messages: [{ role: 'user', content: question }] }),
  });
  await res.arrayBuffer();
  return res.status;
}

async function dayTotals(keyId: string): Promise<{ requests: number; tokens: number }> {
  const h = await redis.hgetall(createKeyspace(chain.prefix).usage('key', keyId, utcDay(Date.now())));
  const n = (f: string) => Number(h[f] ?? 0);
  return {
    requests: n('requests'),
    tokens: n('inputTokens') + n('outputTokens') + n('cacheCreationInputTokens') + n('cacheReadInputTokens'),
  };
}

/** What each receiver took (answered 2xx), by webhook-id. */
function taken(r: WebhookReceiver): Map<string, number> {
  const m = new Map<string, number>();
  for (const d of r.received)
    if (d.status !== undefined && d.status < 300)
      m.set(d.headers['webhook-id'] ?? '', (m.get(d.headers['webhook-id'] ?? '') ?? 0) + 1);
  return m;
}

/** The ids of the budget alerts GET /admin/alerts lists (recorded by the worker when raised, before delivery). */
async function listed(): Promise<string[]> {
  const res = await chain.admin('GET', '/alerts');
  expect(res.status).toBe(200);
  return ((await res.json()) as { alerts: AlertEvent[] }).alerts
    .filter((a) => a.type === 'budget_threshold')
    .map((a) => a.id);
}

it('delivers each budget threshold once, signed, after two 500s, while a hanging receiver holds no request up', async () => {
  // Admission reserves what a request may cost (docs/BUDGETS.md), so counted usage never reaches a budget by
  // requests alone: the key spends under a large budget, then an admin lowers the budget under its usage, one
  // threshold at a time. A refused request is counted too (with no tokens), and each count checks the budgets.
  const { key, id: keyId } = await chain.createKey({ dailyTokenBudget: 100_000, allowedModels: ['claude-sonnet-4-6'] });
  let sent = 0;
  while ((await dayTotals(keyId)).tokens < 400) {
    expect(await ask(key, `Question ${sent}: which yard takes the night freight from platform ${sent * 7}?`)).toBe(200);
    sent++;
    await waitFor(`request ${sent} counted`, async () => (await dayTotals(keyId)).requests >= sent, 60_000);
  }
  const used = (await dayTotals(keyId)).tokens;
  const ids = [50, 80, 100].map((t) => `budget_threshold:${keyId}:daily_tokens:${utcDay(Date.now())}:${t}`);
  const poke = () => ask(key, 'A model this key may not use', 'claude-opus-4-1');

  // 1. Each threshold in its own step: 60 %, 90 %, then exactly 100 % of the budget.
  for (const [step, budget] of [Math.ceil(used / 0.6), Math.ceil(used / 0.9), used].entries()) {
    expect((await chain.admin('PATCH', `/keys/${keyId}`, { dailyTokenBudget: budget })).status).toBe(200);
    await waitFor(
      `threshold ${step + 1} raised`,
      async () => {
        // 403 (the model) under the budget, 429 (the budget, before the body is read) at it: both are counted.
        expect([403, 429]).toContain(await poke());
        return (await listed()).length === step + 1;
      },
      60_000,
    );
    expect(await listed()).toEqual(ids.slice(0, step + 1).reverse());
    expect((await dayTotals(keyId)).tokens).toBe(used);
  }
  await waitFor(
    'the three thresholds taken by the flaky receiver',
    () => ids.every((id) => taken(flaky).get(id) === 1),
    90_000,
  );

  // 2. Each alert: two 500s, then the 200, every attempt with the same webhook-id and a valid signature.
  const verifier = new Webhook(SECRET);
  for (const [i, id] of ids.entries()) {
    const attempts = flaky.received.filter((r) => r.headers['webhook-id'] === id);
    expect(attempts.map((r) => r.status)).toEqual([500, 500, 200]);
    for (const r of attempts) {
      const event = AlertEventSchema.parse(verifier.verify(r.body, r.headers));
      expect(event).toMatchObject({
        id,
        type: 'budget_threshold',
        keyId,
        data: { budget: 'daily_tokens', threshold: [50, 80, 100][i], used, unit: 'tokens' },
      });
    }
  }

  // 3. The hanging receiver holds its deliveries open; requests through the chain complete all the same.
  await waitFor('the hanging receiver to hold a delivery', () => hanging.received.length > 0, 60_000);
  const { key: other } = await chain.createKey();
  const statuses = await Promise.all(Array.from({ length: 8 }, (_, i) => ask(other, `Unrelated question ${i}`)));
  expect(statuses).toEqual(Array.from({ length: 8 }, () => 200));
  expect(hanging.received.length).toBeGreaterThan(0);
  expect(hanging.received.every((r) => r.status === undefined)).toBe(true);
  const pending = await deliveries.getJob(deliveryJobId(ids[0] as string, hanging.url));
  expect(['active', 'delayed', 'waiting']).toContain(await pending?.getState());

  // 4. GET /admin/alerts answers as its OpenAPI entry says.
  const doc = (await (await fetch(`${chain.gatewayUrl}/admin/openapi.json`)).json()) as {
    paths: Record<
      string,
      Record<string, { responses: Record<string, { content: Record<string, { schema: object }> }> }>
    >;
    components: { schemas: Record<string, unknown> };
  };
  const documented = doc.paths['/admin/alerts']?.get?.responses['200']?.content['application/json']?.schema ?? {};
  const rooted = JSON.stringify({ ...documented, $defs: doc.components.schemas }).replaceAll(
    '#/components/schemas/',
    '#/$defs/',
  );
  const answer: unknown = await (await chain.admin('GET', '/alerts')).json();
  const check = z.fromJSONSchema(JSON.parse(rooted) as Parameters<typeof z.fromJSONSchema>[0]).safeParse(answer);
  expect(check.success ? [] : check.error.issues).toEqual([]);

  // 5. More counted requests past the budget raise nothing new: each threshold was raised and taken once.
  for (let i = 0; i < 3; i++) expect(await poke()).toBe(429);
  await waitFor('the pokes counted', async () => (await dayTotals(keyId)).requests >= sent + 6, 60_000);
  expect(await listed()).toEqual([...ids].reverse());
  for (const id of ids) expect(taken(flaky).get(id)).toBe(1);
});

it('raises account_limited when the upstream limits an account until its reset', async () => {
  chain.fake.setUtilization('acct-node-b', { fiveHour: 1.01 });
  const { key } = await chain.createKey();
  // Requests until one reaches node-b and its 429 makes the node report the account limited.
  await waitFor(
    'an account_limited alert for node-b',
    async () => {
      // A new conversation each time (a repeated prompt would stick to the node that answered it first).
      await ask(key, `Which node answers question ${randomBytes(4).toString('hex')}?`);
      return flaky.received.some(
        (r) => r.status === 200 && (r.headers['webhook-id'] ?? '').startsWith('account_limited:node-b:'),
      );
    },
    90_000,
  ).catch(async (err: unknown) => {
    const all = ((await (await chain.admin('GET', '/alerts')).json()) as { alerts: AlertEvent[] }).alerts.map(
      (a) => a.id,
    );
    const nodes = await (await chain.admin('GET', '/nodes')).text();
    throw new Error(
      `${String(err)}\nlisted: ${JSON.stringify(all)}\nflaky: ${JSON.stringify(flaky.received.map((r) => [r.headers['webhook-id'], r.status]))}\nnodes: ${nodes.slice(0, 3000)}\nworker: ${chain.worker?.output().slice(-5000) ?? ''}\ngateway: ${chain.gateway.output().slice(-5000)}`,
    );
  });
  const delivered = flaky.received.find(
    (r) => r.status === 200 && (r.headers['webhook-id'] ?? '').startsWith('account_limited:node-b:'),
  );
  const event = AlertEventSchema.parse(new Webhook(SECRET).verify(delivered?.body ?? '', delivered?.headers ?? {}));
  expect(event).toMatchObject({ type: 'account_limited', nodeId: 'node-b' });
  expect(Number(event.data.limitedUntil)).toBeGreaterThan(Date.now());
});

it("raises a USD budget's thresholds from the cost the worker counts", async () => {
  const { key, id: keyId } = await chain.createKey({ dailyUsdBudget: 1_000, allowedModels: ['claude-sonnet-4-6'] });
  const costOf = async () =>
    Number((await redis.hget(createKeyspace(chain.prefix).usage('key', keyId, utcDay(Date.now())), 'costMicros')) ?? 0);
  let sent = 0;
  while (sent < 3) {
    expect(await ask(key, `Priced question ${sent}: how long is platform ${sent}?`)).toBe(200);
    sent++;
    await waitFor(`request ${sent} counted`, async () => (await dayTotals(keyId)).requests >= sent, 60_000);
  }
  const cost = await costOf();
  expect(cost).toBeGreaterThan(0);
  const ids = [50, 80, 100].map((t) => `budget_threshold:${keyId}:daily_usd:${utcDay(Date.now())}:${t}`);
  const usdIds = async () =>
    ((await (await chain.admin('GET', '/alerts')).json()) as { alerts: AlertEvent[] }).alerts
      .filter((a) => a.keyId === keyId)
      .map((a) => a.id);
  for (const [step, micros] of [Math.ceil(cost / 0.6), Math.ceil(cost / 0.9), cost].entries()) {
    expect((await chain.admin('PATCH', `/keys/${keyId}`, { dailyUsdBudget: micros / 1e6 })).status).toBe(200);
    await waitFor(
      `USD threshold ${step + 1} raised`,
      async () => {
        expect([403, 429]).toContain(await ask(key, 'A model this key may not use', 'claude-opus-4-1'));
        return (await usdIds()).length === step + 1;
      },
      60_000,
    );
    expect(await usdIds()).toEqual(ids.slice(0, step + 1).reverse());
  }
  await waitFor('the USD thresholds taken', () => ids.every((id) => taken(flaky).get(id) === 1), 90_000);
});

it('raises node_lost for a node killed without draining, once it stays away past the grace', async () => {
  const node = chain.nodes['node-a'];
  node?.svc.proc.kill('SIGKILL');
  await waitFor(
    'a node_lost alert for node-a',
    () =>
      flaky.received.some((r) => r.status === 200 && (r.headers['webhook-id'] ?? '').startsWith('node_lost:node-a:')),
    90_000,
  );
  const delivered = flaky.received.find(
    (r) => r.status === 200 && (r.headers['webhook-id'] ?? '').startsWith('node_lost:node-a:'),
  );
  const event = AlertEventSchema.parse(new Webhook(SECRET).verify(delivered?.body ?? '', delivered?.headers ?? {}));
  expect(event).toMatchObject({ type: 'node_lost', nodeId: 'node-a' });
  // node-b, which stayed, raised nothing of the kind.
  expect(flaky.received.some((r) => (r.headers['webhook-id'] ?? '').startsWith('node_lost:node-b:'))).toBe(false);
});
