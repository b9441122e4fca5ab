// The Redis layer's public surface. The store contract suite is test support (@switchyard/testkit/store-contract).
export {
  createKeyspace,
  epochMinute,
  REDIS_PREFIX_PATTERN,
  utcDay,
  utcMonth,
  type Keyspace,
  type UsageScope,
} from './keys.js';
export type {
  CounterStore,
  HashStore,
  KeyValueStore,
  ListStore,
  Lock,
  LockStore,
  OnceStore,
  OnceWrites,
  RenewingWrite,
  SetOptions,
  SetStore,
  SharedStore,
  TtlOptions,
} from './store.js';
export { createRedisHealthWatch, type RedisHealthWatch, type WatchedRedis } from './health-watch.js';
export { createIoRedisClient, createIoRedisStore, type IoRedisClientOptions } from './ioredis-store.js';
export { createUpstashClient, createUpstashStore, type UpstashClientOptions } from './upstash-store.js';
export { assertListIndex, assertOnceWrites, assertTtlMs, incrementPairs, newLockToken, ttlArg } from './store-args.js';
