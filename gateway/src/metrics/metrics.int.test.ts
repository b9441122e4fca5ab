// /metrics on the gateway, both node-agents and the usage worker, scraped after known traffic: one
// conversation of six requests (some streamed, some with thinking), a request-scoped 429 and a window
// rejection on its node (two failovers), then a duplicated usage job. The figures must match what was
// sent and the fake upstream's own ledger; a scrape without the right token gets 401.
import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { JobCatalog, queuePrefix } from '@switchyard/shared';
import { freePort, testRedisUrl, startStack, type Stack, waitFor } from '@switchyard/testkit';

jest.setTimeout(120_000);

const MODEL = 'claude-sonnet-4-6';
const N = 6;
const RESET_IN_SEC = 600;
const UTILIZATION: Record<string, { '5h': number; '7d': number }> = {
  'node-a': { '5h': 0.42, '7d': 0.17 },
  'node-b': { '5h': 0.25, '7d': 0.1 },
};
const nodeToken = randomBytes(32).toString('hex');
const workerToken = randomBytes(32).toString('hex');
let workerPort: number;
let chain: Stack;
let redis: Redis;

/** One sample of Prometheus text: name, labels, value. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable metrics line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[k as string] = v as string;
    samples.push({ name: m[1] as string, labels, value: Number(m[3]) });
  }
  return samples;
}

/** The sum of every sample of `name` whose labels include `match`. */
function total(samples: Sample[], name: string, match: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

function has(samples: Sample[], name: string, match: Record<string, string> = {}): boolean {
  return samples.some((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** A node's own listener (health and metrics, loopback). */
function nodeUrl(nodeId: string): string {
  return `http://127.0.0.1:${chain.nodes[nodeId]?.env.PORT ?? 0}`;
}

async function scrape(url: string, token: string): Promise<Sample[]> {
  const res = await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`scrape of ${url} answered ${res.status}: ${text}`);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseMetrics(text);
}

const workerUrl = () => `http://127.0.0.1:${workerPort}`;

async function send(key: string, sessionId: string, i: number): Promise<number> {
  const stream = i % 2 === 0;
  const body = {
    model: MODEL,
    max_tokens: 256,
    stream,
    ...(i % 3 === 0 ? { thinking: { type: 'enabled', budget_tokens: 1024 } } : {}),
    system: 'You route freight.',
    messages: [{ role: 'user', content: `Turn ${i}: which track for train ${i * 13}?` }],
  };
  const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
    method: 'POST',
    headers: {
      'x-api-key': key,
      'content-type': 'application/json',
      'anthropic-version': '2023-06-01',
      'x-claude-code-session-id': sessionId,
    },
    body: JSON.stringify(body),
  });
  await res.text();
  return res.status;
}

const sentStatuses: number[] = [];
let stickyNode: string;
let otherNode: string;
/** One usage job's payload as the gateway enqueued it (completed jobs are removed at once, so it is kept here). */
let jobData: unknown;

beforeAll(async () => {
  redis = new Redis(testRedisUrl());
  chain = await startStack({ redisUrl: testRedisUrl(), nodeEnv: { METRICS_TOKEN: nodeToken } });
  workerPort = await freePort();
  await chain.startWorker({ METRICS_PORT: String(workerPort), METRICS_TOKEN: workerToken, HOST: '127.0.0.1' });
  await chain.waitReady();
  for (const [nodeId, u] of Object.entries(UTILIZATION))
    chain.fake.setUtilization(`acct-${nodeId}`, { fiveHour: u['5h'], sevenDay: u['7d'] });

  const { key } = await chain.createKey();
  const sessionId = randomBytes(8).toString('hex');
  // The queue waits while the conversation runs, so one job's payload can be kept for the duplicate test.
  const queue = new Queue(JobCatalog.usage.queue, { connection: redis, prefix: queuePrefix(chain.prefix) });
  await queue.pause();
  for (let i = 1; i <= N; i++) {
    // Turn 3: a 429 about this request alone; turn 6: the 5h window rejected (the node is benched).
    if (i === 3) chain.fake.inject({ kind: 'request_429', retryAfterSec: 0, times: 1 });
    if (i === N) chain.fake.inject({ kind: 'rate_limit', window: 'five_hour', resetInSec: RESET_IN_SEC, times: 1 });
    sentStatuses.push(await send(key, sessionId, i));
  }
  const [waiting] = await waitFor(
    'a usage job enqueued',
    async () => {
      const jobs = await queue.getJobs(['waiting'], 0, 0);
      return jobs.length > 0 && jobs;
    },
    { timeoutMs: 30_000, intervalMs: 100 },
  );
  jobData = waiting?.data;
  await queue.resume();
  await queue.close();
  const served = chain.fake.requests
    .filter((r) => r.route === 'messages' && r.accountId !== undefined)
    .map((r) => r.accountId as string);
  stickyNode = (served[0] ?? '').replace(/^acct-/, '');
  otherNode = stickyNode === 'node-a' ? 'node-b' : 'node-a';
});

afterAll(async () => {
  await chain?.stop();
  if (redis) {
    redis.disconnect();
  }
});

it('every request of the conversation was answered', () => {
  expect(sentStatuses).toEqual(Array.from({ length: N }, () => 200));
});

describe('gateway', () => {
  it('counts requests, latency, stickiness, failovers and thinking', async () => {
    const m = await scrape(chain.gatewayUrl, chain.metricsToken);
    expect(total(m, 'switchyard_gateway_requests_total', { route: 'messages', status: '200', model: MODEL })).toBe(N);
    // The failovers landed on the other node; the rest stayed on the conversation's node.
    expect(total(m, 'switchyard_gateway_requests_total', { route: 'messages', node: otherNode })).toBe(2);
    expect(total(m, 'switchyard_gateway_requests_total', { route: 'messages', node: stickyNode })).toBe(N - 2);
    expect(total(m, 'switchyard_gateway_sticky_lookups_total', { result: 'hit' })).toBe(N - 1);
    expect(total(m, 'switchyard_gateway_sticky_lookups_total', { result: 'miss' })).toBe(1);
    expect(total(m, 'switchyard_gateway_failovers_total', { node: stickyNode, reason: 'rate_limited' })).toBe(2);
    expect(total(m, 'switchyard_gateway_failovers_total')).toBe(2);
    expect(total(m, 'switchyard_gateway_request_duration_seconds_count', { route: 'messages', stream: 'true' })).toBe(
      N / 2,
    );
    expect(total(m, 'switchyard_gateway_request_duration_seconds_count', { route: 'messages', stream: 'false' })).toBe(
      N / 2,
    );
    expect(total(m, 'switchyard_gateway_time_to_first_byte_seconds_count', { route: 'messages' })).toBe(N);
    expect(total(m, 'switchyard_gateway_active_streams')).toBe(0);
    // Turns 3 and 6 asked for thinking.
    expect(total(m, 'switchyard_gateway_requests_without_thinking_total')).toBe(N - 2);
    expect(has(m, 'switchyard_process_cpu_seconds_total')).toBe(true);
  });

  it('shows each node’s state, its limit’s reset time and its 5h/7d utilization', async () => {
    const m = await scrape(chain.gatewayUrl, chain.metricsToken);
    expect(total(m, 'switchyard_gateway_node_state', { node: stickyNode, state: 'limited' })).toBe(1);
    expect(total(m, 'switchyard_gateway_node_state', { node: stickyNode, state: 'available' })).toBe(0);
    expect(total(m, 'switchyard_gateway_node_state', { node: otherNode, state: 'available' })).toBe(1);
    // Each node holds one tunnel to this (the only) replica.
    expect(total(m, 'switchyard_gateway_node_tunnels', { node: stickyNode })).toBe(1);
    expect(total(m, 'switchyard_gateway_node_tunnels', { node: otherNode })).toBe(1);
    const until = total(m, 'switchyard_gateway_node_limited_until_timestamp_seconds', { node: stickyNode });
    expect(Math.abs(until - (Date.now() / 1000 + RESET_IN_SEC))).toBeLessThan(60);
    expect(has(m, 'switchyard_gateway_node_limited_until_timestamp_seconds', { node: otherNode })).toBe(false);
    const util = (node: string, window: string) =>
      total(m, 'switchyard_gateway_node_utilization_ratio', { node, window });
    expect(util(otherNode, '5h')).toBeCloseTo(UTILIZATION[otherNode]!['5h'], 5);
    expect(util(otherNode, '7d')).toBeCloseTo(UTILIZATION[otherNode]!['7d'], 5);
    expect(util(stickyNode, '7d')).toBeCloseTo(UTILIZATION[stickyNode]!['7d'], 5);
    // The rejection reported the 5h window at its limit.
    expect(util(stickyNode, '5h')).toBeGreaterThanOrEqual(1);
    expect(
      total(m, 'switchyard_gateway_node_window_reset_timestamp_seconds', { node: otherNode, window: '5h' }),
    ).toBeGreaterThan(Date.now() / 1000);
  });

  it('answers 401 in the Anthropic envelope without the token, with a wrong one, or with an admin token', async () => {
    const attempts: Record<string, string>[] = [
      {},
      { authorization: `Bearer ${randomBytes(32).toString('hex')}` },
      { authorization: `Bearer ${chain.adminToken}` },
    ];
    for (const headers of attempts) {
      const res = await fetch(`${chain.gatewayUrl}/metrics`, { headers });
      expect(res.status).toBe(401);
      expect(await res.json()).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    }
  });

  it('a metrics token opens /metrics only, never the admin API', async () => {
    for (const path of ['/admin/keys', '/admin/nodes', '/admin/usage']) {
      const res = await fetch(`${chain.gatewayUrl}${path}`, {
        headers: { authorization: `Bearer ${chain.metricsToken}` },
      });
      expect(res.status).toBe(401);
    }
  });
});

describe('node-agent', () => {
  it('counts upstream answers, refreshes and its account’s limit', async () => {
    const sticky = await scrape(nodeUrl(stickyNode), nodeToken);
    const other = await scrape(nodeUrl(otherNode), nodeToken);
    expect(total(sticky, 'switchyard_node_upstream_responses_total', { status: '429', model: MODEL })).toBe(2);
    expect(total(sticky, 'switchyard_node_upstream_responses_total', { status: '200', model: MODEL })).toBe(N - 2);
    expect(total(other, 'switchyard_node_upstream_responses_total', { status: '200', model: MODEL })).toBe(2);
    expect(total(sticky, 'switchyard_node_requests_total', { route: 'messages', status: '429' })).toBe(2);
    expect(total(sticky, 'switchyard_node_request_duration_seconds_count', { route: 'messages' })).toBe(N);
    expect(total(sticky, 'switchyard_node_upstream_response_seconds_count', { route: 'messages' })).toBe(N);
    expect(total(sticky, 'switchyard_node_in_flight_requests')).toBe(0);
    // Both started from a refresh token alone: their first access token came from a refresh.
    expect(total(sticky, 'switchyard_node_oauth_refreshes_total', { outcome: 'success' })).toBeGreaterThanOrEqual(1);
    expect(total(other, 'switchyard_node_oauth_refreshes_total', { outcome: 'success' })).toBeGreaterThanOrEqual(1);
    expect(total(sticky, 'switchyard_node_account_state', { state: 'limited' })).toBe(1);
    expect(total(other, 'switchyard_node_account_state', { state: 'available' })).toBe(1);
    const until = total(sticky, 'switchyard_node_account_limited_until_timestamp_seconds');
    expect(Math.abs(until - (Date.now() / 1000 + RESET_IN_SEC))).toBeLessThan(60);
    expect(total(other, 'switchyard_node_account_utilization_ratio', { window: '5h' })).toBeCloseTo(
      UTILIZATION[otherNode]!['5h'],
      5,
    );
    expect(total(sticky, 'switchyard_node_account_utilization_ratio', { window: '5h' })).toBeGreaterThanOrEqual(1);
  });

  it('answers 401 without the token, and its listener serves no API (requests come through the tunnel only)', async () => {
    const url = nodeUrl(stickyNode);
    const bare = await fetch(`${url}/metrics`);
    expect(bare.status).toBe(401);
    expect(await bare.json()).toMatchObject({ error: { type: 'authentication_error' } });
    const models = await fetch(`${url}/v1/models`, { headers: { authorization: `Bearer ${nodeToken}` } });
    expect(models.status).toBe(404);
  });
});

describe('usage worker', () => {
  const counted = async () =>
    total(await scrape(workerUrl(), workerToken), 'switchyard_worker_jobs_total', { result: 'counted' });

  it('counts exactly the tokens the upstream reported, once per request, and drains the queue', async () => {
    await waitFor('every job counted', async () => (await counted()) >= N, { timeoutMs: 30_000, intervalMs: 100 });
    const m = await scrape(workerUrl(), workerToken);
    const ledger = chain.fake.usageTotals();
    expect(total(m, 'switchyard_worker_jobs_total', { result: 'counted' })).toBe(N);
    expect(
      total(m, 'switchyard_worker_tokens_total', { model: MODEL, direction: 'sent', kind: 'exact', route: 'messages' }),
    ).toBe(ledger.input + ledger.cacheCreation + ledger.cacheRead);
    expect(total(m, 'switchyard_worker_tokens_total', { model: MODEL, direction: 'received', kind: 'exact' })).toBe(
      ledger.output,
    );
    expect(
      total(m, 'switchyard_worker_tokens_total', { model: MODEL, direction: 'sent', kind: 'estimated' }),
    ).toBeGreaterThan(0);
    expect(
      total(m, 'switchyard_worker_tokens_total', { model: MODEL, direction: 'received', kind: 'estimated' }),
    ).toBeGreaterThan(0);
    expect(total(m, 'switchyard_worker_queue_up')).toBe(1);
    expect(
      total(m, 'switchyard_worker_queue_jobs', { state: 'waiting' }) +
        total(m, 'switchyard_worker_queue_jobs', { state: 'active' }),
    ).toBe(0);
    expect(total(m, 'switchyard_worker_queue_lag_seconds')).toBe(0);
    // The gateway reads the same queue itself (so the lag shows while the worker is down), and agrees.
    const g = await scrape(chain.gatewayUrl, chain.metricsToken);
    expect(has(g, 'switchyard_usage_queue_lag_seconds')).toBe(true);
    expect(total(g, 'switchyard_usage_queue_lag_seconds')).toBe(0);
    for (const state of ['waiting', 'active', 'delayed', 'failed'])
      expect([state, has(g, 'switchyard_usage_queue_jobs', { state })]).toEqual([state, true]);
    expect(
      total(g, 'switchyard_usage_queue_jobs', { state: 'waiting' }) +
        total(g, 'switchyard_usage_queue_jobs', { state: 'failed' }),
    ).toBe(0);
  });

  it('adds nothing for a duplicate the done marker stopped', async () => {
    const before = await scrape(workerUrl(), workerToken);
    const queue = new Queue(JobCatalog.usage.queue, { connection: redis, prefix: queuePrefix(chain.prefix) });
    try {
      expect(jobData).toBeDefined();
      await queue.add('usage', jobData, { jobId: `dup-${randomBytes(4).toString('hex')}` });
    } finally {
      await queue.close();
    }
    const after = await waitFor(
      'the duplicate handled',
      async () => {
        const m = await scrape(workerUrl(), workerToken);
        return total(m, 'switchyard_worker_jobs_total', { result: 'duplicate' }) === 1 && m;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(total(after, 'switchyard_worker_jobs_total', { result: 'counted' })).toBe(N);
    expect(total(after, 'switchyard_worker_tokens_total')).toBe(total(before, 'switchyard_worker_tokens_total'));
  });

  it('answers 401 without the token', async () => {
    const res = await fetch(`${workerUrl()}/metrics`);
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { type: 'authentication_error' } });
  });
});

// Last, so the figures above stay those of the conversation alone.
describe('gateway: rejections and the usage pipeline', () => {
  it('counts the requests it refused itself, and where every usage job went', async () => {
    const res = await fetch(`${chain.gatewayUrl}/v1/messages`, {
      method: 'POST',
      headers: {
        'x-api-key': `sy-${randomBytes(24).toString('hex')}`,
        'content-type': 'application/json',
        'anthropic-version': '2023-06-01',
      },
      body: JSON.stringify({ model: MODEL, max_tokens: 16, messages: [{ role: 'user', content: 'hi' }] }),
    });
    expect(res.status).toBe(401);
    await res.text();
    const m = await waitFor(
      'the usage jobs enqueued',
      async () => {
        const s = await scrape(chain.gatewayUrl, chain.metricsToken);
        return total(s, 'switchyard_gateway_usage_jobs_total', { outcome: 'enqueued' }) >= N && s;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    expect(total(m, 'switchyard_gateway_rejections_total', { reason: 'unauthenticated' })).toBe(1);
    expect(total(m, 'switchyard_gateway_usage_jobs_total', { outcome: 'spooled' })).toBe(0);
    // Redis was up all along: nothing waits in memory or in the spool.
    expect(has(m, 'switchyard_gateway_usage_buffer_jobs')).toBe(true);
    expect(total(m, 'switchyard_gateway_usage_buffer_jobs')).toBe(0);
    expect(has(m, 'switchyard_gateway_usage_spool_bytes')).toBe(true);
    expect(total(m, 'switchyard_gateway_usage_spool_bytes')).toBe(0);
  });
});
