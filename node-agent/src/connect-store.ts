import { createIoRedisClient, createIoRedisStore, createUpstashClient, createUpstashStore, type Logger, type SharedStore } from '@switchyard/shared';
import type { NodeConfig } from './config.js';

/**
 * The node's shared store: Upstash REST when UPSTASH_REDIS_REST_* are set, else Redis over TCP.
 * Used by the composition roots only (main.ts, login-main.ts).
 */
export function connectStore(config: NodeConfig, log: Logger): SharedStore {
  if (config.UPSTASH_REDIS_REST_URL !== undefined && config.UPSTASH_REDIS_REST_TOKEN !== undefined) {
    return createUpstashStore(createUpstashClient({ url: config.UPSTASH_REDIS_REST_URL, token: config.UPSTASH_REDIS_REST_TOKEN }));
  }
  const client = createIoRedisClient(config.REDIS_URL ?? 'redis://127.0.0.1:6379', { connectionName: `node-agent:${config.NODE_ID}` });
  let down = false;
  client.on('error', (err: NodeJS.ErrnoException) => {
    if (down) return;
    down = true;
    log.warn('redis unreachable', { errorCode: err.code, reason: err.message });
  });
  client.on('ready', () => {
    if (down) log.info('redis reachable again');
    down = false;
  });
  return createIoRedisStore(client);
}
