// The recorder on a real BullMQ queue: one job per request, never on the request path, nothing lost
// while Redis is down (spooled, then replayed), against the shared test Redis and a redis-server of
// our own that we stop and start.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { createKeyspace, queuePrefix, withDeadline, type UsageJob } from '@switchyard/shared';
import {
  deleteKeys,
  freePort,
  recordingLog,
  startRedisServer,
  testRedisUrl,
  uniquePrefix,
  type LogLine,
  type RedisServerHandle,
  waitFor,
} from '@switchyard/testkit';
import { createKnownHashes } from './known-hashes.js';
import { createPromptDigester } from './prompt-digest.js';
import type { CaptureResult } from './response-capture.js';
import { usageJobOf, type UsageDraft } from './usage-draft.js';
import { createUsageRecorder, type UsageQueue, type UsageRecorder, type UsageRecorderDeps } from './usage-recorder.js';

const CAPTURED: CaptureResult = {
  usage: {
    inputTokens: 120,
    outputTokens: 33,
    cacheCreationInputTokens: 10,
    cacheCreation5mInputTokens: 4,
    cacheCreation1hInputTokens: 6,
    cacheReadInputTokens: 900,
  },
  stopReason: 'end_turn',
  endedCleanly: true,
  output: { kind: 'message', content: [{ type: 'text', text: 'hi' }] },
  shortfall: 'none',
};

let seq = 0;
function draft(label: string, extra: Partial<UsageDraft> = {}): UsageDraft {
  return {
    requestId: `req_${label}_${++seq}`,
    at: Date.now(),
    keyId: 'key-a',
    nodeId: 'node-1',
    model: 'claude-sonnet-4-6',
    stream: true,
    status: 200,
    durationMs: 12.5,
    ttfbMs: 3.2,
    aborted: false,
    brokeMidStream: false,
    accountKind: null,
    sticky: 'none',
    route: 'messages',
    capture: { result: () => CAPTURED },
    prompt: { system: 'be brief', messages: [{ role: 'user', content: `question ${seq}` }] },
    ...extra,
  };
}

/** Every line in the spool directory (a file the replay deletes meanwhile counts as empty). */
async function spoolLines(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir)) {
    const text = await readFile(join(dir, name), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return '';
      throw err;
    });
    out.push(...text.split('\n').filter((l) => l !== ''));
  }
  return out;
}

const spoolIds = async (dir: string) => (await spoolLines(dir)).map((l) => (JSON.parse(l) as UsageJob).requestId);

// A hung Redis stays hung for longer than any test here runs (the server is stopped after each test), so no
// add can land, or time out, by itself while a test still looks; a stop() that waited on one would miss STOP_LIMIT_MS.
const HANG_MS = 10 * 60_000;
const STOP_LIMIT_MS = 20_000;

/** Pauses the server's clients (every command, or only writes: then CLIENT UNPAUSE on the returned client lifts it). */
async function hang(url: string, mode: 'ALL' | 'WRITE' = 'ALL'): Promise<Redis> {
  const pauser = new Redis(url);
  cleanups.push(() => pauser.disconnect());
  await pauser.call('CLIENT', 'PAUSE', String(HANG_MS), mode);
  return pauser;
}

interface Rig {
  recorder: UsageRecorder;
  /** A queue on an ordinary connection, to look at what the recorder enqueued. */
  reader: Queue;
  connection: Redis;
  spoolDir: string;
  lines: LogLine[];
  addCalls: string[];
}

let admin: Redis;
let cleanups: (() => Promise<unknown> | void)[] = [];
const prefixes: string[] = [];

beforeAll(() => {
  admin = new Redis(testRedisUrl());
});
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});
afterAll(async () => {
  for (const p of prefixes) await deleteKeys(admin, p);
  await admin.quit();
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'sy-spool-'));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** The producer's connection as main.ts makes it: no offline queue, so a command fails at once while Redis is away. */
function producerConnection(url: string): Redis {
  const connection = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  connection.on('error', () => undefined);
  cleanups.push(() => connection.disconnect());
  return connection;
}

async function rig(
  opts: { url?: string; prefix?: string; spoolDir?: string } & Partial<
    Pick<UsageRecorderDeps, 'bufferMax' | 'retryIntervalMs' | 'addTimeoutMs' | 'stopTimeoutMs' | 'concurrency'>
  > = {},
): Promise<Rig> {
  const url = opts.url ?? testRedisUrl();
  const prefix = opts.prefix ?? uniquePrefix('rec');
  prefixes.push(prefix);
  const connection = producerConnection(url);
  const queue = new Queue('usage', { connection, prefix: queuePrefix(prefix) });
  queue.on('error', () => undefined);
  const addCalls: string[] = [];
  const counted: UsageQueue = {
    add: (name, data, jobOpts) => {
      addCalls.push(jobOpts.jobId);
      return queue.add(name, data, jobOpts);
    },
    close: () => queue.close(),
  };
  const readerConnection = new Redis(url, { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
  readerConnection.on('error', () => undefined);
  const reader = new Queue('usage', { connection: readerConnection, prefix: queuePrefix(prefix) });
  reader.on('error', () => undefined);
  cleanups.push(async () => {
    await reader.close();
    readerConnection.disconnect();
  });
  const spoolDir = opts.spoolDir ?? (await tempDir());
  const lines: LogLine[] = [];
  const log = recordingLog(lines);
  const digester = createPromptDigester({
    mget: (k) => connection.mget(...k),
    keys: createKeyspace(prefix),
    encoding: 'o200k_base',
    known: createKnownHashes(),
  });
  const recorder = createUsageRecorder({
    queue: counted,
    connection,
    digester,
    spoolDir,
    bufferMax: opts.bufferMax ?? 1_000,
    log,
    retryIntervalMs: opts.retryIntervalMs ?? 100,
    ...(opts.addTimeoutMs === undefined ? {} : { addTimeoutMs: opts.addTimeoutMs }),
    ...(opts.stopTimeoutMs === undefined ? {} : { stopTimeoutMs: opts.stopTimeoutMs }),
    ...(opts.concurrency === undefined ? {} : { concurrency: opts.concurrency }),
  });
  let stopped = false;
  const stop = recorder.stop.bind(recorder);
  recorder.stop = async () => {
    stopped = true;
    await stop();
  };
  cleanups.push(async () => {
    if (!stopped) await stop();
  });
  return { recorder, reader, connection, spoolDir, lines, addCalls };
}

async function ready(connection: Redis): Promise<void> {
  if (connection.status !== 'ready') await new Promise((r) => connection.once('ready', r));
}

async function queuedIds(reader: Queue): Promise<string[]> {
  const jobs = await reader.getJobs(['waiting', 'delayed', 'prioritized'], 0, -1);
  return jobs.map((j) => j.id ?? '').sort();
}

describe('with Redis up', () => {
  test('record() returns at once, before anything touches Redis; the job is queued after drained()', async () => {
    const r = await rig();
    await r.recorder.start();
    await ready(r.connection);
    const d = draft('sync');
    const returned = r.recorder.record(d) as unknown;
    // Same tick: not a promise, no add sent to Redis (so the job cannot be there yet), only buffered.
    expect(returned).toBeUndefined();
    expect(r.addCalls).toEqual([]);
    expect(r.recorder.stats()).toMatchObject({ buffered: 1, enqueued: 0 });

    await r.recorder.drained();
    const job = await r.reader.getJob(d.requestId);
    expect(job?.id).toBe(d.requestId);
    expect(job?.name).toBe('usage');
    expect(job?.data).toMatchObject({
      requestId: d.requestId,
      keyId: 'key-a',
      nodeId: 'node-1',
      usage: CAPTURED.usage,
      stopReason: 'end_turn',
      endedCleanly: true,
    });
    expect((job?.data as UsageJob).prompt?.blocks).toHaveLength(2);
    expect(job?.opts.attempts).toBeGreaterThan(1);
    expect(r.recorder.stats()).toMatchObject({ buffered: 0, inFlight: 0, enqueued: 1, spooled: 0 });
  });

  test('a thousand record() calls in a row hand nothing to Redis until the caller yields', async () => {
    const r = await rig();
    await r.recorder.start();
    await ready(r.connection);
    const drafts = Array.from({ length: 1_000 }, () => draft('burst'));
    for (const d of drafts) r.recorder.record(d);
    expect(r.addCalls).toEqual([]);
    await r.recorder.drained();
    expect(await queuedIds(r.reader)).toEqual(drafts.map((d) => d.requestId).sort());
    expect(await spoolLines(r.spoolDir)).toEqual([]);
  });

  test('the jobId is the request id: the same request recorded twice is one job', async () => {
    const r = await rig();
    await r.recorder.start();
    await ready(r.connection);
    const d = draft('twice');
    r.recorder.record(d);
    r.recorder.record({ ...d });
    await r.recorder.drained();
    expect(await queuedIds(r.reader)).toEqual([d.requestId]);
  });

  test('a draft without a capture or prompt (refused, aborted early) is still one job', async () => {
    const r = await rig();
    await r.recorder.start();
    await ready(r.connection);
    const { capture: _c, prompt: _p, ...bare } = draft('refused', { status: 429, nodeId: null });
    r.recorder.record(bare);
    await r.recorder.drained();
    const job = await r.reader.getJob(bare.requestId);
    expect(job?.data).toMatchObject({
      status: 429,
      nodeId: null,
      usage: null,
      prompt: null,
      output: null,
      endedCleanly: false,
    });
  });

  test('buffer cap 5, 50 drafts at once: every one ends up in the queue, the overflow by way of the spool', async () => {
    const r = await rig({ bufferMax: 5 });
    await r.recorder.start();
    await ready(r.connection);
    const drafts = Array.from({ length: 50 }, () => draft('cap'));
    for (const d of drafts) r.recorder.record(d);
    expect(r.recorder.stats().buffered).toBe(50);
    await r.recorder.drained();
    const after = r.recorder.stats();
    expect(after.enqueued + after.spooled).toBe(50);
    expect(after.spooled).toBe(45);
    // The spool is replayed on the retry timer while Redis is up.
    await waitFor('the spool to be replayed', async () => (await queuedIds(r.reader)).length === 50);
    expect(await queuedIds(r.reader)).toEqual(drafts.map((d) => d.requestId).sort());
    await waitFor(
      'the spool to be emptied',
      async () => (await spoolLines(r.spoolDir)).length === 0 && r.recorder.stats().spoolBytes === 0,
    );
    expect(r.recorder.stats().replayed).toBe(45);
  });

  test('stop() flushes what is still buffered into the queue', async () => {
    const r = await rig();
    await r.recorder.start();
    await ready(r.connection);
    const drafts = Array.from({ length: 40 }, () => draft('stop'));
    for (const d of drafts) r.recorder.record(d);
    await r.recorder.stop();
    expect(await queuedIds(r.reader)).toEqual(drafts.map((d) => d.requestId).sort());
    expect(await spoolLines(r.spoolDir)).toEqual([]);
  });
});

describe('with Redis down', () => {
  test('every draft is spooled, nothing waits, and a later process on a live Redis replays them all', async () => {
    const spoolDir = await tempDir();
    const prefix = uniquePrefix('rec');
    const down = await rig({ url: `redis://127.0.0.1:${await freePort()}`, prefix, spoolDir });
    await down.recorder.start();
    const drafts = Array.from({ length: 30 }, () => draft('down'));
    for (const d of drafts) down.recorder.record(d);
    // record() only hands the drafts over: nothing was tried, written or spooled before it returned.
    expect(down.recorder.stats()).toMatchObject({ buffered: 30, inFlight: 0, enqueued: 0, spooled: 0 });
    await down.recorder.drained();
    expect(down.recorder.stats()).toMatchObject({ enqueued: 0, spooled: 30 });
    expect(down.addCalls).toEqual([]);
    // Every line is a whole job: Redis being away, every prompt block was shipped with it.
    const lines = await spoolLines(spoolDir);
    expect(lines).toHaveLength(30);
    expect((JSON.parse(lines[0]!) as UsageJob).prompt?.blocks).toHaveLength(2);
    await down.recorder.stop();

    const up = await rig({ prefix, spoolDir });
    await up.recorder.start();
    await waitFor('the spool to be replayed', async () => (await queuedIds(up.reader)).length === 30);
    expect(await queuedIds(up.reader)).toEqual(drafts.map((d) => d.requestId).sort());
    await waitFor('the spool to be emptied', async () => (await readdir(spoolDir)).length === 0);
    expect(up.recorder.stats()).toMatchObject({ replayed: 30, spoolBytes: 0 });
  });

  test('stop() while Redis is down puts what is buffered in the spool', async () => {
    const r = await rig({ url: `redis://127.0.0.1:${await freePort()}` });
    await r.recorder.start();
    const drafts = Array.from({ length: 25 }, () => draft('stopdown'));
    for (const d of drafts) r.recorder.record(d);
    await r.recorder.stop();
    expect((await spoolIds(r.spoolDir)).sort()).toEqual(drafts.map((d) => d.requestId).sort());
  });

  test('a torn last line (crash mid-append) is skipped with a warning; the lines around it replay', async () => {
    const spoolDir = await tempDir();
    const before = [draft('torn'), draft('torn')];
    const jobs = before.map((d) => JSON.stringify(usageJobOf(d, CAPTURED, null)));
    const torn = jobs[1]!.slice(0, 57);
    await writeFile(join(spoolDir, 'usage-spool.jsonl'), `${jobs.join('\n')}\n${torn}`);

    // The restarted process, Redis still down: new drafts go to the spool after the torn line.
    const prefix = uniquePrefix('rec');
    const down = await rig({ url: `redis://127.0.0.1:${await freePort()}`, prefix, spoolDir });
    await down.recorder.start();
    const after = [draft('torn'), draft('torn')];
    for (const d of after) down.recorder.record(d);
    await down.recorder.stop();

    const up = await rig({ prefix, spoolDir });
    await up.recorder.start();
    const expected = [...before, ...after].map((d) => d.requestId).sort();
    await waitFor('the spool to be replayed', async () => (await queuedIds(up.reader)).length === 4);
    expect(await queuedIds(up.reader)).toEqual(expected);
    await waitFor('the replay to finish', () => up.lines.some((l) => l.message === 'usage spool replayed'));
    expect(up.lines.filter((l) => l.message === 'usage spool line unreadable')).toHaveLength(1);
    expect(up.lines.find((l) => l.message === 'usage spool replayed')?.meta).toMatchObject({
      replayed: 4,
      unreadable: 1,
      putBack: 0,
    });
    expect(await readdir(spoolDir)).toEqual([]);
  });
});

describe('a Redis of our own, stopped and started', () => {
  let server: RedisServerHandle;
  let port: number;

  beforeEach(async () => {
    port = await freePort();
    server = await startRedisServer({ port });
    // Registered first, so it runs after the recorder and its connections are closed.
    cleanups.push(() => server.stop());
  });

  test('an outage mid-traffic: drafts spool while it is down, replay when it is back, none lost, none twice', async () => {
    // No retry timer within the test: only the connection's 'ready' can start the replay.
    const r = await rig({ url: server.url, retryIntervalMs: 600_000 });
    await r.recorder.start();
    await ready(r.connection);
    const first = Array.from({ length: 10 }, () => draft('outage'));
    for (const d of first) r.recorder.record(d);
    await r.recorder.drained();
    expect(r.recorder.stats().enqueued).toBe(10);

    await server.stop();
    await waitFor('the producer to notice', () => r.connection.status !== 'ready');
    const during = Array.from({ length: 20 }, () => draft('outage'));
    for (const d of during) r.recorder.record(d);
    expect(r.recorder.stats()).toMatchObject({ buffered: 20, inFlight: 0, enqueued: 10, spooled: 0 });
    await r.recorder.drained();
    expect(r.recorder.stats()).toMatchObject({ enqueued: 10, spooled: 20 });
    expect((await spoolIds(r.spoolDir)).sort()).toEqual(during.map((d) => d.requestId).sort());

    // The same port: the producer reconnects by itself ('ready' starts the replay). No persistence,
    // so what was queued before the outage is gone from this server; the replayed jobs must be there.
    server = await startRedisServer({ port });
    await ready(r.connection);
    const later = Array.from({ length: 5 }, () => draft('outage'));
    for (const d of later) r.recorder.record(d);
    const expected = [...during, ...later].map((d) => d.requestId).sort();
    await waitFor('the spool to be replayed', async () => (await queuedIds(r.reader)).length === expected.length);
    expect(await queuedIds(r.reader)).toEqual(expected);
    await waitFor('the spool to be emptied', async () => (await spoolLines(r.spoolDir)).length === 0);
    expect(r.recorder.stats()).toMatchObject({ enqueued: 15, spooled: 20, replayed: 20, spoolBytes: 0 });
  });

  test('stop() while Redis hangs: it returns in bounded time with every unconfirmed draft on disk', async () => {
    // No add may time out by itself (the default is 10 s): only stop() may give up on them.
    const r = await rig({ url: server.url, stopTimeoutMs: 300, addTimeoutMs: HANG_MS });
    await r.recorder.start();
    await ready(r.connection);
    await hang(server.url);

    // Half wait in the digest's MGET, half (no prompt to digest) in the add itself.
    const drafts = Array.from({ length: 10 }, (_, i) =>
      i % 2 === 0 ? draft('hung') : draft('hung', { prompt: undefined }),
    );
    for (const d of drafts) r.recorder.record(d);
    // Redis answers nothing for longer than the test runs: a stop() that waited on it would not return.
    await withDeadline(r.recorder.stop(), STOP_LIMIT_MS, 'stop() with Redis hung');
    // The process exits after stop(): whatever Redis did not confirm must be in the spool by now.
    expect((await spoolIds(r.spoolDir)).sort()).toEqual(drafts.map((d) => d.requestId).sort());
    expect(r.lines.map((l) => l.message)).toContain('usage flush timed out, spooling the rest');
  });

  test('stop() during a replay into a hung Redis: bounded, and the spool still holds every job', async () => {
    const spoolDir = await tempDir();
    const old = Array.from({ length: 5 }, () => draft('replay-hung'));
    await writeFile(
      join(spoolDir, 'usage-spool.jsonl'),
      old.map((d) => `${JSON.stringify(usageJobOf(d, CAPTURED, null))}\n`).join(''),
    );
    const r = await rig({ url: server.url, spoolDir, stopTimeoutMs: 300, addTimeoutMs: HANG_MS });
    await ready(r.connection);
    await hang(server.url);
    await r.recorder.start();
    await waitFor('the replay to try Redis', () => r.addCalls.length > 0);
    await withDeadline(r.recorder.stop(), STOP_LIMIT_MS, 'stop() with Redis hung');
    // The file being replayed stays until it is read to the end; jobs may also be put back: no loss.
    expect(new Set(await spoolIds(spoolDir))).toEqual(new Set(old.map((d) => d.requestId)));
  });

  test('a Redis that stops answering: adds time out into the spool, record() stays instant, the replay catches up', async () => {
    const r = await rig({ url: server.url, addTimeoutMs: 200 });
    await r.recorder.start();
    await ready(r.connection);
    // Writes (the adds) wait until the test lifts the pause; the digest's reads still get answers.
    const pauser = await hang(server.url, 'WRITE');

    const drafts = Array.from({ length: 10 }, () => draft('paused'));
    for (const d of drafts) r.recorder.record(d);
    expect(r.recorder.stats()).toMatchObject({ buffered: 10, inFlight: 0, enqueued: 0, spooled: 0 });
    await r.recorder.drained();
    expect(r.recorder.stats()).toMatchObject({ enqueued: 0, spooled: 10 });
    await pauser.call('CLIENT', 'UNPAUSE');
    // Paused, not gone: the timed-out adds may land too; the replay's same jobIds make that harmless.
    await waitFor('the queue to hold every job', async () => (await queuedIds(r.reader)).length === 10, 15_000);
    await waitFor('the spool to be emptied', async () => (await spoolLines(r.spoolDir)).length === 0, 15_000);
    expect(await queuedIds(r.reader)).toEqual(drafts.map((d) => d.requestId).sort());
  });
});
