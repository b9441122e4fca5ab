// The live gateway replicas, so a node can keep one tunnel to each. Every replica writes its own field
// of one hash (`{url?, seenAt}`) every few seconds and reads the others; a field not written for
// LIVE_MS is a replica that is gone.
import { z } from 'zod';
import { REPLICA_ID_RE, type HashStore, type Keyspace, type Logger } from '@switchyard/shared';

/** A replica as nodes learn it: its id and, when it has one, where to dial it directly. */
export interface Replica {
  id: string;
  url?: string;
}

/** A replica counts as live while its field was written within this. */
export const REPLICA_LIVE_MS = 15_000;

const EntrySchema = z.object({ url: z.string().optional(), seenAt: z.number() });

// A URL travels in a header list (`id=url,…`): no separators, no whitespace or control characters.
const SAFE_URL_RE = /^https?:\/\/[^\s,=]+$/;

/** The replicas this gateway knows, itself included. */
export interface ReplicaRegistry {
  /** Writes this replica's field and reads the others now, then every intervalMs. */
  start(): Promise<void>;
  /** Stops writing and marks this replica gone (seenAt 0), so the others stop naming it. */
  stop(): Promise<void>;
  /** The live replicas as of the last read, this one first. */
  live(): Replica[];
}

export interface ReplicaRegistryDeps {
  store: Pick<HashStore, 'hset' | 'hgetall'>;
  keys: Pick<Keyspace, 'gatewayReplicas'>;
  log: Logger;
  self: Replica;
  /** The live list changed (a replica came or went, or moved): e.g. tell the connected nodes. */
  onChange?: (live: Replica[]) => void;
  /** Default 5000 ms. */
  intervalMs?: number;
  now?: () => number;
}

function parseEntries(raw: Record<string, string>, nowMs: number, selfId: string): Replica[] {
  const out: Replica[] = [];
  for (const [id, value] of Object.entries(raw)) {
    if (id === selfId || !REPLICA_ID_RE.test(id)) continue;
    let entry: z.infer<typeof EntrySchema>;
    try {
      const parsed = EntrySchema.safeParse(JSON.parse(value));
      if (!parsed.success) continue;
      entry = parsed.data;
    } catch {
      continue;
    }
    if (nowMs - entry.seenAt > REPLICA_LIVE_MS) continue;
    out.push(entry.url !== undefined && SAFE_URL_RE.test(entry.url) ? { id, url: entry.url } : { id });
  }
  return out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * @example
 * const replicas = createReplicaRegistry({ store, keys, log, self: { id: config.GATEWAY_ID } });
 * await replicas.start();
 * replicas.live(); // [{ id: 'gw-1' }, { id: 'gw-2', url: 'https://gw-2.example.com' }]
 */
export function createReplicaRegistry(deps: ReplicaRegistryDeps): ReplicaRegistry {
  const now = deps.now ?? Date.now;
  const intervalMs = deps.intervalMs ?? 5_000;
  const key = deps.keys.gatewayReplicas();
  const selfValue = (seenAt: number): string =>
    JSON.stringify(deps.self.url === undefined ? { seenAt } : { url: deps.self.url, seenAt });
  let others: Replica[] = [];
  let signature = '[]';
  let timer: NodeJS.Timeout | undefined;
  let failing = false;

  async function beat(): Promise<void> {
    try {
      await deps.store.hset(key, { [deps.self.id]: selfValue(now()) });
      others = parseEntries(await deps.store.hgetall(key), now(), deps.self.id);
      const next = JSON.stringify(others);
      if (next !== signature) {
        signature = next;
        deps.onChange?.([deps.self, ...others]);
      }
      if (failing) deps.log.info('replica registry reachable again');
      failing = false;
    } catch (err) {
      // The last list stays; tunnels keep working without it.
      if (!failing) deps.log.warn('replica registry not written', { err });
      failing = true;
    }
  }

  return {
    async start() {
      if (timer) return;
      timer = setInterval(() => void beat(), intervalMs);
      timer.unref();
      await beat();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await deps.store
        .hset(key, { [deps.self.id]: selfValue(0) })
        .catch((err: unknown) => deps.log.warn('replica registry not updated at stop', { err }));
    },
    live: () => [deps.self, ...others],
  };
}
