// The gateway's own view of the usage queue in its Prometheus registry: the lag and the depth by state,
// read at scrape time from a real BullMQ queue (no worker: the lag grows most while the worker is down),
// and a scrape that still answers, without the two series, when the queue cannot be read.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { queuePrefix } from '@switchyard/shared';
import { deleteKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createQueueLagReader, type QueueLagReader } from '../usage/queue-lag.js';
import { createGatewayMetrics } from './gateway-metrics.js';

const T0 = Date.parse('2027-03-01T12:00:00Z');

function metricsWith(queueLag: QueueLagReader | undefined) {
  return createGatewayMetrics({
    registry: { nodes: () => [], redisHealthy: () => true },
    forwarder: { inFlight: () => 0 },
    stats: { requestsWithoutThinking: 0 },
    usage: { stats: () => ({ buffered: 0, inFlight: 0, enqueued: 0, spooled: 0, replayed: 0, spoolBytes: 0 }) },
    queueLag,
    now: () => T0,
    version: '0.0.0-test',
    gitSha: 'test',
  });
}

/** The samples of one metric, as `name{labels} value` lines. */
async function samples(queueLag: QueueLagReader | undefined, name: string): Promise<string[]> {
  const text = await metricsWith(queueLag).registry.metrics();
  return text.split('\n').filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));
}

describe('gateway metrics: the usage queue', () => {
  const prefix = uniquePrefix('gw-queue-lag');
  let redis: Redis;
  let queue: Queue;

  beforeAll(async () => {
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    queue = new Queue('usage-scraped', { connection: redis, prefix: queuePrefix(prefix) });
    await queue.add('usage', { n: 'failed' }, { timestamp: T0 - 900_000 });
    await queue.add('usage', { n: 'active' }, { timestamp: T0 - 600_000 });
    await queue.add('usage', { n: 'oldest waiting' }, { timestamp: T0 - 125_000 });
    await queue.add('usage', { n: 'waiting' }, { timestamp: T0 - 1_000 });
    await queue.add('usage', { n: 'delayed' }, { delay: 3_600_000 });
    const worker = new Worker(queue.name, null, { connection: redis, prefix: queuePrefix(prefix), autorun: false });
    try {
      await (await worker.getNextJob('t1')).moveToFailed(new Error('test failure'), 't1', false);
      await worker.getNextJob('t2');
    } finally {
      await worker.close();
    }
  });
  afterAll(async () => {
    await queue.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('exports the lag of the oldest waiting job and the jobs per state', async () => {
    const read = createQueueLagReader({ queue, now: () => T0 });
    expect(await samples(read, 'switchyard_usage_queue_lag_seconds')).toEqual([
      'switchyard_usage_queue_lag_seconds 125',
    ]);
    expect((await samples(read, 'switchyard_usage_queue_jobs')).sort()).toEqual([
      'switchyard_usage_queue_jobs{state="active"} 1',
      'switchyard_usage_queue_jobs{state="delayed"} 1',
      'switchyard_usage_queue_jobs{state="failed"} 1',
      'switchyard_usage_queue_jobs{state="waiting"} 2',
    ]);
  });

  it('reads the queue once per scrape for both series', async () => {
    let reads = 0;
    const read = createQueueLagReader({ queue, now: () => T0 });
    const text = await metricsWith(() => {
      reads += 1;
      return read();
    }).registry.metrics();
    expect(text).toContain('switchyard_usage_queue_lag_seconds 125');
    expect(reads).toBe(1);
  });

  it('leaves both series out, and the scrape answers, when the queue cannot be read in time', async () => {
    const never = new Promise<never>(() => undefined);
    const silent = createQueueLagReader({
      queue: {
        getJobCounts: () => never,
        getRanges: () => never,
        toKey: (t) => t,
        getBackend: () => ({ client: never }),
      },
      now: () => T0,
      timeoutMs: 20,
    });
    const text = await metricsWith(silent).registry.metrics();
    expect(text).toContain('switchyard_gateway_usage_buffer_jobs 0');
    expect(text).not.toMatch(/^switchyard_usage_queue_lag_seconds[ {]/m);
    expect(text).not.toMatch(/^switchyard_usage_queue_jobs[ {]/m);
  });

  it('drops the figures of an earlier scrape once the queue cannot be read (no stale values)', async () => {
    const answers = [
      { depth: { waiting: 7, active: 1, delayed: 0, prioritized: 0, failed: 2, completed: 0 }, lagSeconds: 300 },
      undefined,
    ];
    const registry = metricsWith(() => Promise.resolve(answers.shift())).registry;
    const first = await registry.metrics();
    expect(first).toMatch(/^switchyard_usage_queue_lag_seconds 300$/m);
    expect(first).toMatch(/^switchyard_usage_queue_jobs\{state="waiting"\} 7$/m);
    const second = await registry.metrics();
    expect(second).not.toMatch(/^switchyard_usage_queue_lag_seconds[ {]/m);
    expect(second).not.toMatch(/^switchyard_usage_queue_jobs[ {]/m);
  });

  it('exports neither series without a reader', async () => {
    expect(await samples(undefined, 'switchyard_usage_queue_lag_seconds')).toEqual([]);
  });
});
