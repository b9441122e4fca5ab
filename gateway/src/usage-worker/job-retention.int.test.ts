// How long a usage job's payload (prompt and response text) stays in Redis, with the catalog's options on a real
// BullMQ queue: a completed job is gone at once; a failed one stays for inspection, and BullMQ alone would keep it
// past its age until another job fails, which is why the worker sweeps.
import { Queue, UnrecoverableError, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { createNullLogger, JobCatalog, queuePrefix } from '@switchyard/shared';
import { deleteKeys, testRedisUrl, uniquePrefix, waitFor } from '@switchyard/testkit';
import { createFailedJobSweep } from './failed-job-sweep.js';

let redis: Redis;
const prefix = uniquePrefix('retention');
const bull = queuePrefix(prefix);
let queue: Queue;
const workers: Worker[] = [];

beforeAll(() => {
  redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: null });
  queue = new Queue(JobCatalog.usage.queue, { connection: redis, prefix: bull });
});

afterAll(async () => {
  for (const w of workers) await w.close();
  await queue.close();
  await deleteKeys(redis, prefix);
  await redis.quit();
});

/** A worker on the queue whose handler fails for good on payloads marked `fail`. */
function startWorker(): Worker {
  const worker = new Worker(
    JobCatalog.usage.queue,
    (job) => {
      if ((job.data as { fail?: boolean }).fail) throw new UnrecoverableError('cannot be counted');
      return Promise.resolve();
    },
    { connection: redis, prefix: bull },
  );
  workers.push(worker);
  return worker;
}

const stored = (jobId: string) => redis.exists(`${bull}:${JobCatalog.usage.queue}:${jobId}`);

it('deletes a completed job at once and keeps a failed one, with its 24 h age', async () => {
  startWorker();
  await queue.add('usage', { text: 'a prompt' }, { ...JobCatalog.usage.defaults, jobId: 'done-1' });
  await queue.add('usage', { text: 'another prompt', fail: true }, { ...JobCatalog.usage.defaults, jobId: 'failed-1' });
  await waitFor(
    'both jobs finished',
    async () =>
      (await queue.getFailedCount()) === 1 &&
      (await queue.getWaitingCount()) === 0 &&
      (await queue.getActiveCount()) === 0,
    20_000,
  );
  expect(await stored('done-1')).toBe(0);
  expect(await queue.getCompletedCount()).toBe(0);
  expect(await stored('failed-1')).toBe(1);
  expect((await queue.getJob('failed-1'))?.opts.removeOnFail).toEqual({ age: 86_400 });
});

/**
 * Makes a failed job look `ms` older to BullMQ: its finished time, and its score in the failed set, which is what
 * both BullMQ's own pruning and Queue.clean read. Ageing jobs by hand rather than by waiting keeps each job on the
 * side of the age the test puts it, however slow the machine.
 */
async function ageFailedJob(jobId: string, ms: number): Promise<void> {
  const finishedOn = Number(await redis.hget(`${bull}:${JobCatalog.usage.queue}:${jobId}`, 'finishedOn')) - ms;
  await redis.hset(`${bull}:${JobCatalog.usage.queue}:${jobId}`, 'finishedOn', finishedOn);
  expect(await redis.zadd(`${bull}:${JobCatalog.usage.queue}:failed`, 'XX', 'CH', finishedOn, jobId)).toBe(1);
}

const MINUTE = 60_000;

it('a failed job outlives its age until something sweeps it: the sweep deletes only those past the age', async () => {
  // An age of 1 s in place of 24 h: BullMQ prunes by age only when another job fails.
  await queue.add(
    'usage',
    { text: 'old prompt', fail: true },
    { ...JobCatalog.usage.defaults, removeOnFail: { age: 1 }, jobId: 'failed-old' },
  );
  await waitFor('the job to fail', async () => (await queue.getJobState('failed-old')) === 'failed', 20_000);
  // Ten minutes past its age of 1 s, and nothing else failed: BullMQ still keeps it.
  await ageFailedJob('failed-old', 10 * MINUTE);
  expect(await stored('failed-old')).toBe(1);

  // An age of one minute: failed-old and failed-1 (from the test above), both aged ten minutes, are past it; a
  // job failing now is not.
  await ageFailedJob('failed-1', 10 * MINUTE);
  const sweep = createFailedJobSweep({ queue, maxAgeMs: MINUTE, intervalMs: 60 * MINUTE, log: createNullLogger() });
  await queue.add(
    'usage',
    { text: 'fresh prompt', fail: true },
    { ...JobCatalog.usage.defaults, jobId: 'failed-fresh' },
  );
  await waitFor('the fresh job to fail', async () => (await queue.getJobState('failed-fresh')) === 'failed', 20_000);
  expect(await sweep.sweepNow()).toBe(2);
  expect([await stored('failed-old'), await stored('failed-1'), await stored('failed-fresh')]).toEqual([0, 0, 1]);

  // Started, it sweeps at once (its timer's first tick is an hour away); stopped, it is quiet.
  await ageFailedJob('failed-fresh', 10 * MINUTE);
  sweep.start();
  await waitFor('the sweep at start', async () => (await stored('failed-fresh')) === 0, 20_000);
  await sweep.stop();
});
