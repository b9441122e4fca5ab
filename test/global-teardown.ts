import type { RedisServerHandle } from '../shared/src/testing/redis-server.js';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __syRedis?: RedisServerHandle }).__syRedis?.stop();
}
