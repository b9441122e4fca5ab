import type { RedisServerHandle } from '../testkit/src/redis-server.js';

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { __syRedis?: RedisServerHandle }).__syRedis?.stop();
}
