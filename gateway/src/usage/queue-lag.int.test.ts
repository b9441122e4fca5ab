// The usage queue's lag reader against a real BullMQ queue on a real Redis: jobs are added with known
// timestamps and moved to active and failed by hand (a Worker that never runs on its own), and the reader's
// clock is injected, so the figures are exact and nothing depends on timing.
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { queuePrefix } from '@switchyard/shared';
import { deleteKeys, testRedisUrl, uniquePrefix } from '@switchyard/testkit';
import { createQueueLagReader, shareQueueLag, type LagQueue, type QueueLag } from './queue-lag.js';

const T0 = Date.parse('2027-03-01T12:00:00Z');
const ZERO: QueueLag['depth'] = { waiting: 0, active: 0, delayed: 0, prioritized: 0, failed: 0, completed: 0 };

describe('usage queue lag reader', () => {
  const prefix = uniquePrefix('queue-lag');
  let redis: Redis;
  let queue: Queue;
  let worker: Worker;
  let n = 0;

  /** A fresh queue name per test: each starts empty. */
  function freshQueue(): Queue {
    n += 1;
    return new Queue(`usage-lag-${n}`, { connection: redis, prefix: queuePrefix(prefix) });
  }

  beforeAll(() => {
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  });
  beforeEach(() => {
    queue = freshQueue();
  });
  afterEach(async () => {
    await worker?.close();
    await queue.close();
  });
  afterAll(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('reads an empty queue as no lag and no jobs', async () => {
    const read = createQueueLagReader({ queue, now: () => T0 });
    expect(await read()).toEqual({ depth: ZERO, lagSeconds: 0 });
  });

  it('counts each state and measures the lag from the oldest waiting job', async () => {
    // The oldest two leave the wait list first: one fails, one is being counted.
    await queue.add('usage', { n: 'fails' }, { timestamp: T0 - 600_000 });
    await queue.add('usage', { n: 'active' }, { timestamp: T0 - 300_000 });
    await queue.add('usage', { n: 'oldest waiting' }, { timestamp: T0 - 42_000 });
    await queue.add('usage', { n: 'newer' }, { timestamp: T0 - 5_000 });
    await queue.add('usage', { n: 'newest' }, { timestamp: T0 });
    await queue.add('usage', { n: 'retry later' }, { timestamp: T0 - 900_000, delay: 3_600_000 });
    worker = new Worker(queue.name, null, { connection: redis, prefix: queuePrefix(prefix), autorun: false });
    const failing = await worker.getNextJob('token-1');
    await failing.moveToFailed(new Error('test failure'), 'token-1', false);
    const active = await worker.getNextJob('token-2');
    expect([failing.data, active.data]).toEqual([{ n: 'fails' }, { n: 'active' }]);

    const read = createQueueLagReader({ queue, now: () => T0 + 8_000 });
    expect(await read()).toEqual({ depth: { ...ZERO, waiting: 3, active: 1, delayed: 1, failed: 1 }, lagSeconds: 50 });
  });

  it('follows the wait list as it drains, and never reports a negative lag', async () => {
    await queue.add('usage', {}, { timestamp: T0 - 10_000 });
    await queue.add('usage', {}, { timestamp: T0 + 60_000 });
    let now = T0;
    const read = createQueueLagReader({ queue, now: () => now });
    expect((await read())?.lagSeconds).toBe(10);
    worker = new Worker(queue.name, null, { connection: redis, prefix: queuePrefix(prefix), autorun: false });
    await worker.getNextJob('token');
    // The next job's timestamp is ahead of this clock (another host's clock, say): 0, not negative.
    expect(await read()).toEqual({ depth: { ...ZERO, waiting: 1, active: 1 }, lagSeconds: 0 });
    now = T0 + 90_000;
    expect((await read())?.lagSeconds).toBe(30);
  });

  it('reads the next oldest when the oldest is taken and deleted between reading its id and its hash', async () => {
    const gone = await queue.add('usage', {}, { timestamp: T0 - 100_000 });
    await queue.add('usage', {}, { timestamp: T0 - 20_000 });
    let raced = false;
    // The real queue, but the first id it hands out is deleted before the reader can look at its hash.
    const racing: LagQueue = {
      getJobCounts: (...types) => queue.getJobCounts(...types),
      toKey: (type) => queue.toKey(type),
      getBackend: () => queue.getBackend(),
      async getRanges(types, start, end, asc) {
        const ids = await queue.getRanges(types, start, end, asc);
        if (!raced) {
          raced = true;
          await queue.remove(gone.id as string);
        }
        return ids;
      },
    };
    const lag = await createQueueLagReader({ queue: racing, now: () => T0 })();
    expect(raced).toBe(true);
    expect(lag?.lagSeconds).toBe(20);
  });

  it('answers undefined when the queue does not answer within the deadline, or fails', async () => {
    const never = new Promise<never>(() => undefined);
    const silent: LagQueue = {
      getJobCounts: () => never,
      getRanges: () => never,
      toKey: (type) => type,
      getBackend: () => ({ client: never }),
    };
    expect(await createQueueLagReader({ queue: silent, now: () => T0, timeoutMs: 20 })()).toBeUndefined();
    const failing: LagQueue = { ...silent, getJobCounts: () => Promise.reject(new Error('Connection is closed.')) };
    expect(await createQueueLagReader({ queue: failing, now: () => T0, timeoutMs: 60_000 })()).toBeUndefined();
  });

  it('shares one read between the callers of one scrape, and reads afresh for the next', async () => {
    let reads = 0;
    const shared = shareQueueLag(() => {
      reads += 1;
      return Promise.resolve({ depth: ZERO, lagSeconds: reads });
    });
    const [a, b] = await Promise.all([shared(), shared()]);
    expect([a?.lagSeconds, b?.lagSeconds, reads]).toEqual([1, 1, 1]);
    expect((await shared())?.lagSeconds).toBe(2);
  });
});
