// The fleet registry: one JSON entry per node with a TTL (kept alive by the node's heartbeat) plus a set of
// node ids. Nodes write their own entry; the gateway's router and admin read them all.
import { z } from 'zod';
import { AccountStateSchema } from '../anthropic/account-state.js';
import { url } from '../config/env-types.js';
import type { Keyspace } from '../redis/keys.js';
import type { KeyValueStore, SetStore } from '../redis/store.js';

const epochMs = z.number().int().nonnegative();

/** What a node publishes about itself; the gateway routes on it and GET /admin/nodes shows it. */
export const NodeRecordSchema = z.object({
  nodeId: z.string().min(1),
  /** Where the gateway reaches the node (NODE_PUBLIC_URL). */
  url: url(['http:', 'https:']),
  accountKind: z.enum(['oauth', 'api_key']),
  /** The account's email when known, else a masked hint; never the secret. */
  accountLabel: z.string().optional(),
  state: AccountStateSchema,
  /** Requests the node is serving right now. */
  inFlight: z.number().int().nonnegative(),
  version: z.string(),
  gitSha: z.string(),
  startedAt: epochMs,
  /** When the node wrote this entry (the node's clock). */
  heartbeatAt: epochMs,
});
export type NodeRecord = z.infer<typeof NodeRecordSchema>;

/** The two registry keys. */
export type RegistryKeys = Pick<Keyspace, 'node' | 'nodes'>;

/** The store operations the registry needs. */
export type RegistryStore = Pick<KeyValueStore, 'set' | 'del' | 'mget'> & Pick<SetStore, 'sadd' | 'srem' | 'smembers'>;

/**
 * Writes a node's entry with a TTL and adds its id to the set. The entry goes first: a reader that sees
 * the id without an entry takes the node for gone and drops the id.
 */
export async function writeNodeRecord(store: RegistryStore, keys: RegistryKeys, record: NodeRecord, ttlMs: number): Promise<void> {
  const valid = NodeRecordSchema.parse(record);
  await store.set(keys.node(valid.nodeId), JSON.stringify(valid), { ttlMs });
  await store.sadd(keys.nodes(), valid.nodeId);
}

/** Removes a node's entry and its id (a node leaving the fleet on shutdown). */
export async function removeNodeRecord(store: RegistryStore, keys: RegistryKeys, nodeId: string): Promise<void> {
  await store.del(keys.node(nodeId));
  await store.srem(keys.nodes(), nodeId);
}

/** Options of readNodeRecords. */
export interface ReadNodeRecordsOptions {
  /** Told about an entry that is present but unreadable (bad JSON, wrong shape, or filed under another id); it is skipped. */
  onMalformed?: (nodeId: string, issues: string) => void;
}

function keyOf(keys: RegistryKeys, nodeId: string): string | undefined {
  try {
    return keys.node(nodeId);
  } catch {
    return undefined;
  }
}

function parseEntry(nodeId: string, raw: string): NodeRecord | string {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return 'not JSON';
  }
  const parsed = NodeRecordSchema.safeParse(json);
  if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
  return parsed.data.nodeId === nodeId ? parsed.data : `filed under ${nodeId} but names ${parsed.data.nodeId}`;
}

/**
 * Every live node, sorted by id. Ids whose entry expired (or that could never name a key) are dropped
 * from the set as a side effect; malformed entries are skipped, never thrown, and left for their node to
 * overwrite. Dropping races a node that re-joins at that instant: its next beat adds the id back.
 */
export async function readNodeRecords(store: RegistryStore, keys: RegistryKeys, opts: ReadNodeRecordsOptions = {}): Promise<NodeRecord[]> {
  const ids = await store.smembers(keys.nodes());
  const addressable = ids.filter((id) => keyOf(keys, id) !== undefined);
  const gone = ids.filter((id) => keyOf(keys, id) === undefined);
  const raws = addressable.length === 0 ? [] : await store.mget(addressable.map((id) => keys.node(id)));
  const records: NodeRecord[] = [];
  addressable.forEach((nodeId, i) => {
    const raw = raws[i];
    if (raw === null || raw === undefined) {
      gone.push(nodeId);
      return;
    }
    const entry = parseEntry(nodeId, raw);
    if (typeof entry === 'string') opts.onMalformed?.(nodeId, entry);
    else records.push(entry);
  });
  if (gone.length > 0) await store.srem(keys.nodes(), ...gone);
  return records.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
}
