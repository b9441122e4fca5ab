// The lag watcher on a real BullMQ queue: the reader's clock is moved by hand and every check is a manual
// tick, so the log lines follow from the figures alone (no timers run, nothing waits).
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { queuePrefix } from '@switchyard/shared';
import { deleteKeys, recordingLog, testRedisUrl, uniquePrefix, type LogLine } from '@switchyard/testkit';
import { LAG_RECOVERED_MESSAGE, LAG_WARN_MESSAGE, createLagWatcher, type IntervalTimers } from './lag-watcher.js';
import { createQueueLagReader } from './queue-lag.js';

const T0 = Date.parse('2027-03-01T12:00:00Z');

describe('usage lag watcher', () => {
  const prefix = uniquePrefix('lag-watcher');
  let redis: Redis;
  let queue: Queue;

  beforeAll(() => {
    redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
    queue = new Queue('usage-watched', { connection: redis, prefix: queuePrefix(prefix) });
  });
  afterAll(async () => {
    await queue.close();
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });

  it('warns once when the lag first exceeds the threshold, says once when it is back under, and is quiet in between', async () => {
    let now = T0;
    const lines: LogLine[] = [];
    const log = recordingLog(lines);
    const watcher = createLagWatcher({
      read: createQueueLagReader({ queue, now: () => now }),
      thresholdSeconds: 60,
      log,
    });

    await queue.add('usage', { n: 1 }, { timestamp: T0 });
    await queue.add('usage', { n: 2 }, { timestamp: T0 + 50_000 });
    now = T0 + 59_000;
    await watcher.check();
    now = T0 + 60_000; // at the threshold is not over it
    await watcher.check();
    expect(lines).toEqual([]);

    now = T0 + 75_000;
    await watcher.check();
    expect(lines).toEqual([
      { level: 'warn', message: LAG_WARN_MESSAGE, meta: { lagSeconds: 75, waiting: 2, threshold: 60 } },
    ]);
    expect(watcher.lagging).toBe(true);
    for (const later of [90_000, 300_000, 3_600_000]) {
      now = T0 + later;
      await watcher.check();
    }
    expect(lines).toHaveLength(1);

    // The worker takes the oldest job: the next one has waited 3_600 - 50 s, still over.
    const worker = new Worker(queue.name, null, { connection: redis, prefix: queuePrefix(prefix), autorun: false });
    try {
      await worker.getNextJob('token-1');
      await watcher.check();
      expect(lines).toHaveLength(1);
      // And the last one: nothing waits.
      await worker.getNextJob('token-2');
    } finally {
      await worker.close();
    }
    await watcher.check();
    expect(lines).toEqual([
      { level: 'warn', message: LAG_WARN_MESSAGE, meta: { lagSeconds: 75, waiting: 2, threshold: 60 } },
      { level: 'info', message: LAG_RECOVERED_MESSAGE, meta: { lagSeconds: 0, waiting: 0, threshold: 60 } },
    ]);
    expect(watcher.lagging).toBe(false);
    await watcher.check();
    await watcher.check();
    expect(lines).toHaveLength(2);
  });

  it('keeps its state through a read that fails (the outage is logged elsewhere)', async () => {
    const lines: LogLine[] = [];
    const log = recordingLog(lines);
    const answers = [
      { lagSeconds: 120, waiting: 9 },
      undefined,
      undefined,
      { lagSeconds: 150, waiting: 12 },
      undefined,
      { lagSeconds: 1, waiting: 1 },
    ];
    const read = () => {
      const next = answers.shift();
      return Promise.resolve(
        next && {
          depth: { waiting: next.waiting, active: 0, delayed: 0, prioritized: 0, failed: 0, completed: 0 },
          lagSeconds: next.lagSeconds,
        },
      );
    };
    const watcher = createLagWatcher({ read, thresholdSeconds: 60, log });
    for (let i = 0; i < 6; i++) await watcher.check();
    expect(lines.map((l) => [l.level, l.message])).toEqual([
      ['warn', LAG_WARN_MESSAGE],
      ['info', LAG_RECOVERED_MESSAGE],
    ]);
  });

  it('checks every 15 s on an unref’d timer from start() until stop()', async () => {
    const scheduled: { fn: () => void; ms: number; unrefd: boolean; cleared: boolean }[] = [];
    const timers: IntervalTimers = {
      setInterval(fn, ms) {
        const entry = { fn, ms, unrefd: false, cleared: false };
        scheduled.push(entry);
        return { unref: () => (entry.unrefd = true), entry };
      },
      clearInterval(handle) {
        (handle as { entry: { cleared: boolean } }).entry.cleared = true;
      },
    };
    let reads = 0;
    const read = () => {
      reads += 1;
      return Promise.resolve(undefined);
    };
    const watcher = createLagWatcher({ read, thresholdSeconds: 60, log: recordingLog([]), timers });
    watcher.start();
    watcher.start();
    expect(scheduled).toEqual([expect.objectContaining({ ms: 15_000, unrefd: true, cleared: false })]);
    scheduled[0]!.fn();
    await watcher.check();
    expect(reads).toBe(1); // the tick's read was still running: the manual check joined it
    watcher.stop();
    expect(scheduled[0]!.cleared).toBe(true);
  });
});
