// Makes sure the test run has a Redis: REDIS_URL if set, else 127.0.0.1:6379 if it answers, else a
// throwaway redis-server from PATH on a free port (stopped in global-teardown). Jest does not map
// `.js` imports to `.ts` sources here, so the testkit helper is loaded through tsx's require hook.
import { register } from 'tsx/cjs/api';
import type { RedisServerHandle } from '../testkit/src/redis-server.js';

export default async function globalSetup(): Promise<void> {
  const unregister = register();
  const { ensureTestRedis } = await import('../testkit/src/redis-server.js');
  unregister();
  const redisUrl = process.env.REDIS_URL;
  const { url, started } = await ensureTestRedis(redisUrl === undefined ? {} : { existingUrl: redisUrl });
  process.env.REDIS_URL = url;
  (globalThis as { __syRedis?: RedisServerHandle }).__syRedis = started;
}
