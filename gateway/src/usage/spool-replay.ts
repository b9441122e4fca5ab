import { UsageJobSchema, type Logger, type UsageJob } from '@switchyard/shared';
import type { UsageSpool } from './usage-spool.js';

export interface SpoolReplayDeps {
  spool: UsageSpool;
  /** Adds one job to the queue; false when it could not (Redis went away again). */
  add(job: UsageJob): Promise<boolean>;
  log: Logger;
  /** Adds in flight at once. */
  concurrency: number;
  /** Checked between batches: a stopping process leaves the rest of the file for the next start. */
  stopping(): boolean;
}

export interface ReplayCount {
  replayed: number;
  putBack: number;
  unreadable: number;
}

// Thrown through readLines to stop reading a file at shutdown; the file stays for the next start.
class ReplayStopped extends Error {}

function parseLine(line: string): UsageJob | undefined {
  try {
    const parsed = UsageJobSchema.safeParse(JSON.parse(line));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Replays the spool: every file is moved aside first (so new failures go to a fresh file), each line
 * is added again (its jobId makes a re-add of a job still queued a no-op, and the worker's marker
 * makes a re-count impossible), and lines that fail go back to the spool. After one failure the rest
 * go back untried: Redis is away again and the next 'ready' replays them. A line that does not parse
 * (torn by a crash mid-append) is skipped with a warning. A replayed file is deleted.
 */
export async function replaySpool(deps: SpoolReplayDeps): Promise<ReplayCount> {
  const count: ReplayCount = { replayed: 0, putBack: 0, unreadable: 0 };
  let redisGone = false;

  async function putBack(job: UsageJob): Promise<void> {
    count.putBack++;
    await deps.spool.append(JSON.stringify(job));
  }

  async function addBatch(jobs: UsageJob[]): Promise<void> {
    if (redisGone) {
      for (const job of jobs) await putBack(job);
      return;
    }
    const added = await Promise.all(jobs.map((job) => deps.add(job)));
    for (let i = 0; i < jobs.length; i++) {
      if (added[i] === true) count.replayed++;
      else {
        redisGone = true;
        await putBack(jobs[i] as UsageJob);
      }
    }
  }

  for (const file of await deps.spool.takeAll()) {
    let batch: UsageJob[] = [];
    try {
      await deps.spool.readLines(file, async (line) => {
        if (deps.stopping()) throw new ReplayStopped('usage spool replay stopped');
        if (line.trim() === '') return;
        const job = parseLine(line);
        if (job === undefined) {
          count.unreadable++;
          deps.log.warn('usage spool line unreadable', { file, chars: line.length });
          return;
        }
        batch.push(job);
        if (batch.length < deps.concurrency) return;
        const full = batch;
        batch = [];
        await addBatch(full);
      });
      await addBatch(batch);
    } catch (err) {
      if (err instanceof ReplayStopped) return count;
      throw err;
    }
    await deps.spool.remove(file);
  }
  return count;
}
