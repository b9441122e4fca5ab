// The Redis health watch on a real connection to a redis-server of its own, stopped and started again.
import { Writable } from 'node:stream';
import type { Redis } from 'ioredis';
import { startRedisServer, waitFor, type RedisServerHandle } from '@switchyard/testkit';
import { createLogger } from '../logging/create-logger.js';
import { createRedisHealthWatch } from './health-watch.js';
import { createIoRedisClient } from './ioredis-store.js';

function recordingLog() {
  const lines: { level: string; message: string; errorCode?: string }[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean))
        lines.push(JSON.parse(line) as (typeof lines)[number]);
      done();
    },
  });
  return { lines, log: createLogger({ service: 'test', level: 'debug', stream }) };
}

describe('createRedisHealthWatch', () => {
  let server: RedisServerHandle;
  let client: Redis;

  beforeEach(async () => {
    server = await startRedisServer();
    // Reconnects at once and often, so the outage shows many errors: the watch must log one.
    client = createIoRedisClient(server.url, { connectionName: 'health-watch-test' });
    client.options.retryStrategy = () => 20;
    await waitFor('the connection ready', () => client.status === 'ready');
  });

  // Every test leaves the server up and the connection ready, so QUIT closes it cleanly.
  afterEach(async () => {
    await client.quit();
    await server.stop();
  });

  it('logs an outage once however many reconnects fail, and its end once, and says whether Redis is down', async () => {
    const { lines, log } = recordingLog();
    const health = createRedisHealthWatch({ client, log });
    health.start();
    expect(health.down).toBe(false);
    let errors = 0;
    client.on('error', () => errors++);

    await server.stop();
    await waitFor('several failed reconnects', () => errors >= 3);
    expect(health.down).toBe(true);
    const outage = await waitFor('the outage logged', () => lines.filter((l) => l.message === 'redis unreachable'));
    expect(outage).toHaveLength(1);
    expect(outage[0]).toMatchObject({ level: 'warn', errorCode: 'ECONNREFUSED' });

    server = await startRedisServer({ port: server.port });
    await waitFor('the connection ready again', () => client.status === 'ready');
    expect(health.down).toBe(false);
    await waitFor('its end logged', () => lines.some((l) => l.message === 'redis reachable again'));
    expect(lines.map((l) => l.message)).toEqual(['redis unreachable', 'redis reachable again']);
  });

  it("takes another component's error as the outage only while the connection is not ready", async () => {
    const { lines, log } = recordingLog();
    const health = createRedisHealthWatch({ client, log });
    health.start();
    // A ready connection: the error is the caller's to judge, and nothing is logged.
    expect(health.report(new Error('Missing lock for job 1'))).toBe(false);
    expect(lines).toHaveLength(0);

    let errors = 0;
    client.on('error', () => errors++);
    await server.stop();
    await waitFor('a failed reconnect', () => errors >= 1);
    expect(health.report(new Error('Connection is closed.'))).toBe(true);
    await waitFor('the outage logged', () => lines.length > 0);
    expect(lines.map((l) => l.message)).toEqual(['redis unreachable']);
    server = await startRedisServer({ port: server.port });
    await waitFor('the connection ready again', () => client.status === 'ready');
  });

  it('watches nothing before start() and after stop()', async () => {
    const { lines, log } = recordingLog();
    const health = createRedisHealthWatch({ client, log });
    let errors = 0;
    client.on('error', () => errors++);
    await server.stop();
    await waitFor('two failed reconnects', () => errors >= 2);
    expect(lines).toHaveLength(0);
    health.start();
    await waitFor('the outage logged once watched', () => lines.length === 1);
    health.stop();
    server = await startRedisServer({ port: server.port });
    await waitFor('the connection ready again', () => client.status === 'ready');
    // Anything the ready event logged would be written by now: a PING round trip after it.
    await client.ping();
    expect(lines.map((l) => l.message)).toEqual(['redis unreachable']);
  });
});
