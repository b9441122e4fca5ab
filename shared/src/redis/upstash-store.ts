// SharedStore over @upstash/redis (HTTP REST). Every call is one request; atomic operations are EVAL.
import { Redis as UpstashRedis } from '@upstash/redis';
import { createCommandStore } from './command-store.js';
import { LUA_SCRIPTS } from './scripts.js';
import type { SharedStore } from './store.js';

/** Connection settings of createUpstashClient. */
export interface UpstashClientOptions {
  /** The REST URL (UPSTASH_REDIS_REST_URL). */
  url: string;
  /** The REST token (UPSTASH_REDIS_REST_TOKEN). */
  token: string;
  /** Retries of a request after a network error. Default 3. */
  retries?: number;
}

/**
 * Creates an @upstash/redis client configured for createUpstashStore. Only composition roots call this.
 * Values are stored JSON strings that must come back byte-exact, so the client returns raw replies.
 */
export function createUpstashClient(opts: UpstashClientOptions): UpstashRedis {
  return new UpstashRedis({
    url: opts.url,
    token: opts.token,
    // The default would JSON.parse every reply: '{"a":1}' comes back an object, '123' a number.
    automaticDeserialization: false,
    // Base64 replies guard binary values; ours are UTF-8 text, and the local emulator does not encode.
    responseEncoding: false,
    // Auto-pipelining splits reads and writes into separate batches, which can reorder them.
    enableAutoPipelining: false,
    enableTelemetry: false,
    retry: { retries: opts.retries ?? 3 },
  });
}

/**
 * A SharedStore on an @upstash/redis client. The client must return raw replies (automaticDeserialization:
 * false, as createUpstashClient sets); a reply that was deserialized makes the store throw a TypeError.
 * close() does nothing: there is no connection to release.
 */
export function createUpstashStore(client: UpstashRedis): SharedStore {
  return createCommandStore({
    command: (name, args) => client.exec<unknown>([name, ...args]),
    script: (name, keys, args) => client.eval<string[], unknown>(LUA_SCRIPTS[name], [...keys], [...args]),
    close: () => Promise.resolve(),
  });
}
