// SharedStore over raw Redis commands. Both adapters only supply how to send a command and run a script,
// so argument checks, reply parsing and the Lua wiring exist once.
import type { ScriptName } from './scripts.js';
import { assertListIndex, assertOnceWrites, assertTtlMs, incrementPairs, newLockToken, ttlArg } from './store-args.js';
import type {
  CounterStore,
  HashStore,
  KeyValueStore,
  ListStore,
  Lock,
  LockStore,
  OnceStore,
  OnceWrites,
  SetOptions,
  SetStore,
  SharedStore,
  TtlOptions,
} from './store.js';

/** The two primitives an adapter provides: a raw command and one of the shared Lua scripts on one key. */
export interface RedisCommands {
  /** Sends one command; resolves to the raw reply (strings, integers, arrays, null). */
  command(name: string, args: readonly string[]): Promise<unknown>;
  /** Runs the named script from LUA_SCRIPTS with these KEYS and ARGV. */
  script(name: ScriptName, keys: readonly string[], args: readonly string[]): Promise<unknown>;
  /** Releases the connection. */
  close(): Promise<void>;
}

const DESERIALIZED_HINT =
  'a Redis reply was not a plain string: an @upstash/redis client must be created with automaticDeserialization: false (use createUpstashClient)';

function asInt(reply: unknown): number {
  if (typeof reply === 'number' && Number.isSafeInteger(reply)) return reply;
  if (typeof reply === 'string' && /^-?\d+$/.test(reply)) return Number(reply);
  throw new TypeError(`expected an integer Redis reply, got ${typeof reply}`);
}

function asStringOrNull(reply: unknown): string | null {
  if (reply === null || reply === undefined) return null;
  if (typeof reply === 'string') return reply;
  throw new TypeError(DESERIALIZED_HINT);
}

function asStrings(reply: unknown): string[] {
  if (!Array.isArray(reply)) throw new TypeError('expected an array Redis reply');
  return reply.map((item) => {
    if (typeof item !== 'string') throw new TypeError(DESERIALIZED_HINT);
    return item;
  });
}

function asRecord(reply: unknown): Record<string, string> {
  const flat = asStrings(reply);
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) out[flat[i]!] = flat[i + 1]!;
  return out;
}

function createLock(redis: RedisCommands, key: string, token: string): Lock {
  return {
    key,
    token,
    release: async () => asInt(await redis.script('releaseLock', [key], [token])) === 1,
    extend: async (ttlMs: number) => {
      assertTtlMs(ttlMs);
      return asInt(await redis.script('extendLock', [key], [token, String(ttlMs)])) === 1;
    },
  };
}

/** writeOnce's KEYS and ARGV, in the order its script reads them (scripts.ts). */
function onceScriptArgs(writes: OnceWrites): { keys: string[]; args: string[] } {
  const always = writes.always ?? [];
  const increments = writes.increments ?? [];
  const members = writes.members ?? [];
  const pushes = writes.pushes ?? [];
  const keys = [writes.marker.key];
  const args = [
    String(writes.marker.ttlMs),
    ...[always, increments, members, pushes].map((list) => String(list.length)),
  ];
  for (const w of always) {
    keys.push(w.key);
    args.push(w.value === undefined ? 'ttl' : 'set', w.value ?? '', String(w.ttlMs));
  }
  for (const i of increments) {
    const pairs = incrementPairs(i.by);
    keys.push(i.key);
    args.push(String(pairs.length), ttlArg(i.ttlMs), ...pairs.flatMap(([field, by]) => [field, String(by)]));
  }
  for (const m of members) {
    keys.push(m.key);
    args.push(m.member, ttlArg(m.ttlMs));
  }
  for (const p of pushes) {
    keys.push(p.key);
    args.push(p.value, String(p.keep));
  }
  return { keys, args };
}

/** A SharedStore that speaks to Redis through `redis`; used by the ioredis and Upstash adapters. */
export function createCommandStore(redis: RedisCommands): SharedStore {
  // Plain objects, not a class: a store's methods stay own properties, so spreading a store to wrap some of them
  // (as enrolment.int.test.ts does) keeps the rest.
  return {
    ...keyValueCommands(redis),
    ...onceCommands(redis),
    ...hashCommands(redis),
    ...setCommands(redis),
    ...listCommands(redis),
    ...counterCommands(redis),
    ...lockCommands(redis),
    async ping() {
      await redis.command('PING', []);
    },
    close: () => redis.close(),
  };
}

function keyValueCommands(redis: RedisCommands): KeyValueStore {
  return {
    async get(key) {
      return asStringOrNull(await redis.command('GET', [key]));
    },
    async set(key, value, opts: SetOptions = {}) {
      const args = [key, value];
      if (opts.ttlMs !== undefined) args.push('PX', ttlArg(opts.ttlMs));
      if (opts.onlyIfAbsent) args.push('NX');
      return (await redis.command('SET', args)) !== null;
    },
    async del(...keys) {
      if (keys.length === 0) return 0;
      return asInt(await redis.command('DEL', keys));
    },
    async compareAndSet(key, expected, next, opts: TtlOptions = {}) {
      const args = [expected === null ? 'absent' : 'value', expected ?? '', next, ttlArg(opts.ttlMs)];
      return asInt(await redis.script('compareAndSet', [key], args)) === 1;
    },
    async expire(key, ttlMs) {
      assertTtlMs(ttlMs);
      return asInt(await redis.command('PEXPIRE', [key, String(ttlMs)])) === 1;
    },
    async mget(keys) {
      if (keys.length === 0) return [];
      const reply = await redis.command('MGET', keys);
      if (!Array.isArray(reply)) throw new TypeError('expected an array Redis reply');
      return reply.map(asStringOrNull);
    },
    async readAndRenew(keys, ttlMs) {
      assertTtlMs(ttlMs);
      if (keys.length === 0) return [];
      const reply = await redis.script('readAndRenew', keys, [String(ttlMs)]);
      if (!Array.isArray(reply)) throw new TypeError('expected an array Redis reply');
      return reply.map(asStringOrNull);
    },
  };
}

function onceCommands(redis: RedisCommands): OnceStore {
  return {
    async writeOnce(writes) {
      assertOnceWrites(writes);
      const { keys, args } = onceScriptArgs(writes);
      return asInt(await redis.script('writeOnce', keys, args)) === 1;
    },
  };
}

function hashCommands(redis: RedisCommands): HashStore {
  return {
    async hincrby(key, increments, opts: TtlOptions = {}) {
      const ttl = ttlArg(opts.ttlMs);
      const pairs = incrementPairs(increments);
      if (pairs.length === 0) return;
      await redis.script('hincrby', [key], [ttl, ...pairs.flatMap(([field, by]) => [field, String(by)])]);
    },
    async hgetall(key) {
      return asRecord(await redis.command('HGETALL', [key]));
    },
    async hset(key, fields) {
      const flat = Object.entries(fields).flat();
      if (flat.length === 0) return 0;
      return asInt(await redis.command('HSET', [key, ...flat]));
    },
  };
}

function setCommands(redis: RedisCommands): SetStore {
  return {
    async sadd(key, ...members) {
      if (members.length === 0) return 0;
      return asInt(await redis.command('SADD', [key, ...members]));
    },
    async srem(key, ...members) {
      if (members.length === 0) return 0;
      return asInt(await redis.command('SREM', [key, ...members]));
    },
    async smembers(key) {
      return asStrings(await redis.command('SMEMBERS', [key]));
    },
  };
}

function listCommands(redis: RedisCommands): ListStore {
  return {
    async lpush(key, ...values) {
      if (values.length === 0) return asInt(await redis.command('LLEN', [key]));
      return asInt(await redis.command('LPUSH', [key, ...values]));
    },
    async lrange(key, start, stop) {
      assertListIndex(start);
      assertListIndex(stop);
      return asStrings(await redis.command('LRANGE', [key, String(start), String(stop)]));
    },
  };
}

function counterCommands(redis: RedisCommands): CounterStore {
  return {
    async incr(key, opts: TtlOptions = {}) {
      return asInt(await redis.script('incr', [key], [ttlArg(opts.ttlMs)]));
    },
    async decr(key) {
      return asInt(await redis.command('DECR', [key]));
    },
  };
}

function lockCommands(redis: RedisCommands): LockStore {
  return {
    async acquireLock(key, ttlMs) {
      assertTtlMs(ttlMs);
      const token = newLockToken();
      const reply = await redis.command('SET', [key, token, 'PX', String(ttlMs), 'NX']);
      return reply === null ? null : createLock(redis, key, token);
    },
  };
}
