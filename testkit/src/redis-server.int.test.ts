import { ensureTestRedis, freePort, NO_REDIS_MESSAGE, redisAnswers, startRedisServer } from './redis-server.js';

describe('test Redis harness', () => {
  it('uses a Redis that already answers at the probe address', async () => {
    const own = await startRedisServer();
    try {
      const got = await ensureTestRedis({ probe: { host: '127.0.0.1', port: own.port } });
      expect(got).toEqual({ url: own.url });
    } finally {
      await own.stop();
    }
  });

  it('starts redis-server on a free port when nothing answers, and stops it', async () => {
    const silent = await freePort();
    const got = await ensureTestRedis({ probe: { host: '127.0.0.1', port: silent } });
    expect(got.started).toBeDefined();
    expect(got.url).not.toContain(`:${silent}`);
    expect(await redisAnswers('127.0.0.1', got.started!.port)).toBe(true);
    await got.started!.stop();
    expect(await redisAnswers('127.0.0.1', got.started!.port)).toBe(false);
  });

  it('can restart a server on the same port (for outage tests)', async () => {
    const first = await startRedisServer();
    await first.stop();
    const second = await startRedisServer({ port: first.port });
    expect(await redisAnswers('127.0.0.1', first.port)).toBe(true);
    await second.stop();
  });

  it("hands out ports below the kernel's ephemeral range, each once", async () => {
    // The kernel gives ports from 32768 up to outgoing connections: a port from there could be taken before the
    // process it was meant for binds it.
    const ports: number[] = [];
    for (let i = 0; i < 50; i++) ports.push(await freePort());
    expect(new Set(ports).size).toBe(50);
    expect(ports.filter((p) => p < 20_000 || p > 32_767)).toEqual([]);
  });

  it('says in one line how to get a Redis when there is no redis-server', async () => {
    const silent = await freePort();
    await expect(
      ensureTestRedis({ probe: { host: '127.0.0.1', port: silent }, bin: 'no-such-redis-server-binary' }),
    ).rejects.toThrow(NO_REDIS_MESSAGE);
    expect(NO_REDIS_MESSAGE).not.toContain('\n');
  });
});
