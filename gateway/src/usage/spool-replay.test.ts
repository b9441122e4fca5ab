// Replaying a real spool directory into an in-memory queue twin that can "lose Redis" at any add.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNullLogger, type UsageJob } from '@switchyard/shared';
import { replaySpool } from './spool-replay.js';
import { usageJobOf } from './usage-draft.js';
import { createUsageSpool, type UsageSpool } from './usage-spool.js';

let dir: string;
let spool: UsageSpool;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sy-replay-'));
  spool = createUsageSpool(dir);
  await spool.open();
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function job(i: number): UsageJob {
  return usageJobOf(
    {
      requestId: `req_${i}`,
      at: 1_700_000_000_000 + i,
      keyId: 'k',
      nodeId: 'n',
      model: 'm',
      stream: false,
      status: 200,
      durationMs: 1,
      ttfbMs: 1,
      aborted: false,
      brokeMidStream: false,
      accountKind: null,
      sticky: 'none',
      route: 'messages',
    },
    undefined,
    null,
  );
}

async function spooledIds(): Promise<string[]> {
  const ids: string[] = [];
  for (const name of await readdir(dir)) {
    for (const l of (await readFile(join(dir, name), 'utf8')).split('\n'))
      if (l !== '') ids.push((JSON.parse(l) as UsageJob).requestId);
  }
  return ids;
}

/** A queue twin: keeps what it was given; from the `failFrom`-th add on, Redis is "gone". */
function twin(failFrom = Infinity) {
  const added: string[] = [];
  let calls = 0;
  return {
    added,
    calls: () => calls,
    add: (j: UsageJob) => {
      calls++;
      if (calls >= failFrom) return Promise.resolve(false);
      added.push(j.requestId);
      return Promise.resolve(true);
    },
  };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `req_${i}`);

test('every spooled job is added and the files are deleted', async () => {
  for (let i = 0; i < 100; i++) await spool.append(JSON.stringify(job(i)));
  const q = twin();
  const n = await replaySpool({ spool, add: q.add, log: createNullLogger(), concurrency: 8, stopping: () => false });
  expect(n).toEqual({ replayed: 100, putBack: 0, unreadable: 0 });
  expect(q.added.sort()).toEqual(ids(100).sort());
  expect(await readdir(dir)).toEqual([]);
  expect(spool.bytes()).toBe(0);
});

test('Redis gone mid-replay: each job is either added or back in the spool, once', async () => {
  for (let i = 0; i < 100; i++) await spool.append(JSON.stringify(job(i)));
  const q = twin(30);
  const n = await replaySpool({ spool, add: q.add, log: createNullLogger(), concurrency: 8, stopping: () => false });
  const back = await spooledIds();
  expect([...q.added, ...back].sort()).toEqual(ids(100).sort());
  expect(new Set(back).size).toBe(back.length);
  expect(n).toMatchObject({ replayed: q.added.length, putBack: back.length });
  // The batch that met the failure (adds 25-32) is the last one tried: the rest go back untried.
  expect(q.added.length).toBe(29);
  expect(q.calls()).toBe(32);
});

test('a process stopping mid-replay leaves the rest in the spool for the next start', async () => {
  for (let i = 0; i < 100; i++) await spool.append(JSON.stringify(job(i)));
  const q = twin();
  let lines = 0;
  const n = await replaySpool({
    spool,
    add: q.add,
    log: createNullLogger(),
    concurrency: 10,
    stopping: () => ++lines > 45,
  });
  expect(n.replayed).toBe(40);
  const left = await spooledIds();
  // Nothing lost; what was added already may be added again (its jobId makes that a no-op).
  expect(new Set([...q.added, ...left])).toEqual(new Set(ids(100)));
});

test('lines that are not jobs are skipped and counted; the good ones around them replay', async () => {
  await writeFile(
    join(dir, 'usage-spool.jsonl'),
    [
      JSON.stringify(job(0)),
      '{"requestId":"req_x","at":',
      JSON.stringify({ hello: 'world' }),
      '',
      JSON.stringify(job(1)),
    ].join('\n') + '\n',
  );
  const fresh = createUsageSpool(dir);
  await fresh.open();
  const q = twin();
  const n = await replaySpool({
    spool: fresh,
    add: q.add,
    log: createNullLogger(),
    concurrency: 4,
    stopping: () => false,
  });
  expect(n).toEqual({ replayed: 2, putBack: 0, unreadable: 2 });
  expect(q.added).toEqual(['req_0', 'req_1']);
});
