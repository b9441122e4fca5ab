import type { Redis } from 'ioredis';
import type { Keyspace, UsageCounterField } from '@switchyard/shared';

/** One batch of counted requests, as a test writes it in place of the usage worker. */
export interface CountedUsage {
  /** The UTC day, YYYY-MM-DD. */
  day: string;
  keyId: string;
  nodeId: string;
  model: string;
  counters: Partial<Record<UsageCounterField, number>>;
  /** The price-data version the day records (none: not recorded). */
  priceVersion?: string;
}

/**
 * Adds a batch to the hashes the worker's script adds to (global, key, node and model day hashes, all-time, the
 * key's month), the day's index sets and price versions: usage fixtures for the admin API, the CLI and the dashboard.
 */
export async function writeCountedUsage(client: Redis, keys: Keyspace, c: CountedUsage): Promise<void> {
  const hashes = [
    keys.usage('global', 'all', c.day),
    keys.usage('key', c.keyId, c.day),
    keys.usage('node', c.nodeId, c.day),
    keys.usage('model', c.model, c.day),
    keys.usageAllTime(),
    keys.usageMonth(c.keyId, c.day.slice(0, 7)),
  ];
  const tx = client.multi();
  for (const hash of hashes) for (const [field, by] of Object.entries(c.counters)) tx.hincrby(hash, field, by);
  tx.sadd(keys.usageIndex('key', c.day), c.keyId)
    .sadd(keys.usageIndex('node', c.day), c.nodeId)
    .sadd(keys.usageIndex('model', c.day), c.model);
  if (c.priceVersion !== undefined) tx.sadd(keys.usagePriceVersions(c.day), c.priceVersion);
  await tx.exec();
}
