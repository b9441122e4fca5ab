// One live process per node id. The lease key holds the instance id of the process whose tunnels the
// gateways accept; every replica holding a tunnel of that instance renews it, and the last tunnel of
// the instance on a replica releases it (to '', so the next process can take it at once).
import type { Keyspace, KeyValueStore } from '@switchyard/shared';

/** The lease's TTL: a process whose tunnels all died silently frees its id after this. */
export const LEASE_TTL_MS = 15_000;

/** The lease operations the hub needs. */
export interface NodeLease {
  /**
   * Takes the lease for `instance`, or keeps it when `instance` holds it already. false: another
   * instance holds it. Rejects when the store fails. Renewing is the same call.
   */
  hold(nodeId: string, instance: string): Promise<boolean>;
  /** Frees the lease if `instance` holds it. Rejects when the store fails. */
  release(nodeId: string, instance: string): Promise<void>;
}

/**
 * @example
 * const lease = createNodeLease({ store, keys });
 * if (!(await lease.hold('node-a', instance))) refuse('duplicate');
 */
export function createNodeLease(deps: {
  store: Pick<KeyValueStore, 'compareAndSet'>;
  keys: Pick<Keyspace, 'nodeLease'>;
  ttlMs?: number;
}): NodeLease {
  const { store, keys } = deps;
  const ttlMs = deps.ttlMs ?? LEASE_TTL_MS;
  return {
    async hold(nodeId, instance) {
      const key = keys.nodeLease(nodeId);
      // Ours already (the common case: a renewal), absent (first process, or the last one's lease lapsed), released.
      if (await store.compareAndSet(key, instance, instance, { ttlMs })) return true;
      if (await store.compareAndSet(key, null, instance, { ttlMs })) return true;
      return store.compareAndSet(key, '', instance, { ttlMs });
    },
    async release(nodeId, instance) {
      await store.compareAndSet(keys.nodeLease(nodeId), instance, '', { ttlMs });
    },
  };
}
