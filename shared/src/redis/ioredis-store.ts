// SharedStore over an ioredis client (TCP). The composition root owns the client; this only borrows it.
import { Redis } from 'ioredis';
import { createCommandStore } from './command-store.js';
import { LUA_SCRIPTS, type ScriptName } from './scripts.js';
import type { SharedStore } from './store.js';

/** Options of createIoRedisClient. */
export interface IoRedisClientOptions {
  /** Queue commands while (re)connecting instead of failing them at once. Default true. */
  enableOfflineQueue?: boolean;
  /** Retries of one command across reconnects before it fails; null = forever (BullMQ workers need null). Default 2. */
  maxRetriesPerRequest?: number | null;
  /** Milliseconds to establish the TCP connection. Default 5000. */
  connectTimeoutMs?: number;
  /** Shown in CLIENT LIST, to tell the processes apart. */
  connectionName?: string;
}

/** Creates (and starts connecting) an ioredis client with Switchyard's defaults. Only composition roots call this. */
export function createIoRedisClient(url: string, opts: IoRedisClientOptions = {}): Redis {
  return new Redis(url, {
    lazyConnect: false,
    enableOfflineQueue: opts.enableOfflineQueue ?? true,
    maxRetriesPerRequest: opts.maxRetriesPerRequest === undefined ? 2 : opts.maxRetriesPerRequest,
    connectTimeout: opts.connectTimeoutMs ?? 5_000,
    ...(opts.connectionName === undefined ? {} : { connectionName: opts.connectionName }),
  });
}

// Defined without numberOfKeys, so each call passes it first (the key count varies for some scripts).
type ScriptCommand = (numberOfKeys: number, ...keysAndArgs: string[]) => Promise<unknown>;

// defineCommand gives EVALSHA with a transparent EVAL fallback after a SCRIPT FLUSH or a failover.
function defineScripts(
  client: Redis,
): (name: ScriptName, keys: readonly string[], args: readonly string[]) => Promise<unknown> {
  for (const [name, lua] of Object.entries(LUA_SCRIPTS)) {
    client.defineCommand(`sy_${name}`, { lua });
  }
  return (name, keys, args) => {
    const fn = (client as unknown as Record<string, ScriptCommand | undefined>)[`sy_${name}`];
    if (!fn) throw new Error(`Lua script ${name} is not defined on this client`);
    return fn.call(client, keys.length, ...keys, ...args);
  };
}

/** A SharedStore on an ioredis client; close() sends QUIT to that client. */
export function createIoRedisStore(client: Redis): SharedStore {
  const script = defineScripts(client);
  return createCommandStore({
    command: (name, args) => client.call(name, ...args),
    script,
    close: async () => {
      if (client.status === 'end') return;
      await client.quit();
    },
  });
}
