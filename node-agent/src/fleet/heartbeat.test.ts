// Heartbeat scheduling on the in-memory store twin (wrapped to be slow, silent or failing); the .int test runs it on Redis.
import { PassThrough } from 'node:stream';
import { createKeyspace, createLogger, initialAccountState, readNodeRecords } from '@switchyard/shared';
import type { AccountStatus, NodeRecord, RegistryStore } from '@switchyard/shared';
import { createMemoryStore } from '@switchyard/shared/testing';
import { createHeartbeat } from './heartbeat.js';

const keys = createKeyspace('unit:');

function captureLog() {
  const stream = new PassThrough();
  let output = '';
  stream.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const lines = async () => {
    await new Promise((r) => setImmediate(r));
    return output
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { message: string; level: string } & Record<string, unknown>);
  };
  return { log: createLogger({ service: 'test', level: 'debug', stream }), lines };
}

function recordOf(state: AccountStatus): NodeRecord {
  const now = Date.now();
  return {
    nodeId: 'node-a',
    url: 'http://node-a:8090',
    accountKind: 'oauth',
    state: { ...initialAccountState(now), state },
    inFlight: 0,
    version: '0.1.0',
    gitSha: 'abc1234',
    startedAt: now,
    heartbeatAt: now,
  };
}

/** The memory store, with writes that can be slowed, made to hang, or made to fail. */
function instrumentedStore() {
  const inner = createMemoryStore();
  const control = { delayMs: 0, hang: false, fail: false, writes: 0, concurrent: 0, maxConcurrent: 0 };
  const store: RegistryStore = {
    async set(key, value, opts) {
      control.writes += 1;
      control.concurrent += 1;
      control.maxConcurrent = Math.max(control.maxConcurrent, control.concurrent);
      try {
        if (control.hang) await new Promise(() => undefined);
        if (control.delayMs > 0) await new Promise((r) => setTimeout(r, control.delayMs));
        if (control.fail) throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
        return await inner.set(key, value, opts);
      } finally {
        control.concurrent -= 1;
      }
    },
    del: (...k) => inner.del(...k),
    mget: (k) => inner.mget(k),
    sadd: (k, ...m) => inner.sadd(k, ...m),
    srem: (k, ...m) => inner.srem(k, ...m),
    smembers: (k) => inner.smembers(k),
  };
  return { store, control, listed: async () => (await readNodeRecords(inner, keys)).map((r) => r.state.state) };
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('heartbeat', () => {
  test('beats never overlap; calls during a beat share one follow-up that carries the newest state', async () => {
    const { store, control, listed } = instrumentedStore();
    control.delayMs = 50;
    let state: AccountStatus = 'available';
    const heartbeat = createHeartbeat({ store, keys, intervalMs: 10, record: () => recordOf(state), log: captureLog().log });
    const calls = [heartbeat.beatNow(), heartbeat.beatNow()];
    state = 'draining';
    calls.push(heartbeat.beatNow(), heartbeat.beatNow());
    await Promise.all(calls);
    expect(control.writes).toBe(2);
    expect(await listed()).toEqual(['draining']);

    // Periodic beats with writes slower than the interval, plus explicit ones: still one at a time.
    heartbeat.start();
    const extra = [heartbeat.beatNow(), heartbeat.beatNow()];
    await new Promise((r) => setTimeout(r, 300));
    heartbeat.stop();
    await Promise.all(extra);
    expect(control.writes).toBeGreaterThan(4);
    expect(control.maxConcurrent).toBe(1);
  });

  test('start() never waits for the store, and leave() gives up after the TTL when the store hangs', async () => {
    const { store, control } = instrumentedStore();
    control.hang = true;
    const { log, lines } = captureLog();
    const heartbeat = createHeartbeat({ store, keys, intervalMs: 50, ttlMs: 200, record: () => recordOf('available'), log });
    heartbeat.start();
    expect(control.writes).toBe(1);
    const started = Date.now();
    await heartbeat.leave();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await lines()).map((l) => l.message)).toEqual(['registry leave timed out']);
  });

  test('a failing store logs once per outage, keeps trying, and says when it is back', async () => {
    const { store, control, listed } = instrumentedStore();
    control.fail = true;
    const { log, lines } = captureLog();
    const heartbeat = createHeartbeat({ store, keys, intervalMs: 10, record: () => recordOf('available'), log });
    heartbeat.start();
    await until(() => control.writes >= 6);
    control.fail = false;
    await until(async () => (await listed()).length === 1);
    heartbeat.stop();
    const logged = await lines();
    expect(logged.map((l) => [l.level, l.message])).toEqual([
      ['warn', 'heartbeat failed'],
      ['info', 'heartbeat restored'],
    ]);
    expect(logged[0]).toMatchObject({ errorCode: 'ECONNREFUSED' });
    expect(logged[1]?.failedBeats).toBeGreaterThanOrEqual(6);
  });

  test('after leave() nothing writes the entry again', async () => {
    const { store, control, listed } = instrumentedStore();
    const heartbeat = createHeartbeat({ store, keys, intervalMs: 10, record: () => recordOf('draining'), log: captureLog().log });
    heartbeat.start();
    await until(async () => (await listed()).length === 1);
    await heartbeat.leave();
    const writes = control.writes;
    await heartbeat.beatNow();
    heartbeat.start();
    await new Promise((r) => setTimeout(r, 100));
    expect(control.writes).toBe(writes);
    expect(await listed()).toEqual([]);
  });

  test('a TTL that does not outlast the interval is refused', () => {
    const { store } = instrumentedStore();
    const base = { store, keys, record: () => recordOf('available'), log: captureLog().log };
    expect(() => createHeartbeat({ ...base, intervalMs: 1_000, ttlMs: 1_000 })).toThrow(RangeError);
    expect(() => createHeartbeat({ ...base, intervalMs: 0 })).toThrow(RangeError);
    expect(() => createHeartbeat({ ...base, intervalMs: 1_000 })).not.toThrow();
  });
});
