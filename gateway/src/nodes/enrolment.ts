// Node enrolments: which node ids may join the fleet, and the digest of each one's token. The token itself
// is returned once, at enrolment or rotation, and never stored; a node proves itself by presenting it.
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { NodeTokens, tokenDigest, type Keyspace, type SharedStore } from '@switchyard/shared';

/** What the gateway keeps of an enrolled node. */
export const NodeEnrolmentSchema = z.object({
  nodeId: z.string().min(1),
  label: z.string().max(200).optional(),
  /** SHA-256 hex of the node's current token. */
  tokenDigest: z.string().regex(/^[0-9a-f]{64}$/),
  /** A safe-to-show form of the token, e.g. 'syn-AbCd…wxyz'. */
  tokenHint: z.string(),
  createdAt: z.number().int().nonnegative(),
  rotatedAt: z.number().int().nonnegative().optional(),
});
export type NodeEnrolment = z.infer<typeof NodeEnrolmentSchema>;

/** The store operations enrolments need. */
export type EnrolmentStore = Pick<
  SharedStore,
  'get' | 'set' | 'del' | 'mget' | 'compareAndSet' | 'sadd' | 'srem' | 'smembers'
>;

const ROTATE_ATTEMPTS = 5;

/** What a node id may look like (the node-agent's NODE_ID rule). */
export const NODE_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;

/** Node enrolments on the shared store. */
export interface EnrolmentRepository {
  /** Enrols a node; undefined when the id is taken. The token is in the answer and nowhere else. */
  create(nodeId: string, label?: string): Promise<{ token: string; enrolment: NodeEnrolment } | undefined>;
  /** A new token for an enrolled node; the old one stops working. undefined when the node is not enrolled. */
  rotate(nodeId: string): Promise<{ token: string; enrolment: NodeEnrolment } | undefined>;
  /** Removes the enrolment (and the node's sealed credential copy); false when it was not enrolled. */
  revoke(nodeId: string): Promise<boolean>;
  get(nodeId: string): Promise<NodeEnrolment | undefined>;
  /** Every enrolment, by node id. */
  list(): Promise<NodeEnrolment[]>;
  /**
   * Whether `token` is the current token of `nodeId`: a malformed token is refused without a lookup; the
   * digests are compared in constant time. Resolves to the enrolment, or undefined.
   */
  verify(nodeId: string, token: string): Promise<NodeEnrolment | undefined>;
}

function parse(raw: string | null | undefined): NodeEnrolment | undefined {
  if (raw === null || raw === undefined) return undefined;
  try {
    const parsed = NodeEnrolmentSchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates the repository.
 * @example
 * const enrolments = createEnrolmentRepository({ store, keys });
 * const { token } = (await enrolments.create('node-a', 'laptop account'))!;
 */
export function createEnrolmentRepository(deps: {
  store: EnrolmentStore;
  keys: Pick<Keyspace, 'nodeEnrolment' | 'nodeEnrolments' | 'sealedCredential'>;
  now?: () => number;
}): EnrolmentRepository {
  const { store, keys } = deps;
  const now = deps.now ?? Date.now;

  function keyOf(nodeId: string): string | undefined {
    if (!NODE_ID_RE.test(nodeId)) return undefined;
    return keys.nodeEnrolment(nodeId);
  }

  async function get(nodeId: string): Promise<NodeEnrolment | undefined> {
    const key = keyOf(nodeId);
    if (key === undefined) return undefined;
    const enrolment = parse(await store.get(key));
    return enrolment?.nodeId === nodeId ? enrolment : undefined;
  }

  return {
    async create(nodeId, label) {
      const key = keyOf(nodeId);
      if (key === undefined) throw new RangeError('node id must be 1-64 letters, digits, _ . -');
      const token = NodeTokens.generate();
      const enrolment: NodeEnrolment = {
        nodeId,
        ...(label === undefined ? {} : { label }),
        tokenDigest: tokenDigest(token),
        tokenHint: NodeTokens.hint(token),
        createdAt: now(),
      };
      if (!(await store.set(key, JSON.stringify(enrolment), { onlyIfAbsent: true }))) return undefined;
      await store.sadd(keys.nodeEnrolments(), nodeId);
      return { token, enrolment };
    },
    async rotate(nodeId) {
      const key = keyOf(nodeId);
      if (key === undefined) return undefined;
      // Compare-and-set on the record as read: a revocation in between is never undone by writing the record
      // back, and of two rotations at once each token it answers was current when it was written.
      for (let attempt = 0; attempt < ROTATE_ATTEMPTS; attempt += 1) {
        const raw = await store.get(key);
        const current = parse(raw);
        if (raw === null || current?.nodeId !== nodeId) return undefined;
        const token = NodeTokens.generate();
        const enrolment: NodeEnrolment = {
          ...current,
          tokenDigest: tokenDigest(token),
          tokenHint: NodeTokens.hint(token),
          rotatedAt: now(),
        };
        if (await store.compareAndSet(key, raw, JSON.stringify(enrolment))) return { token, enrolment };
      }
      throw new Error(`node ${nodeId}: its enrolment kept changing while rotating its token`);
    },
    async revoke(nodeId) {
      const key = keyOf(nodeId);
      if (key === undefined) return false;
      // The enrolment first: from then on no token of this node passes, whatever else fails.
      const removed = await store.del(key);
      await store.del(keys.sealedCredential(nodeId));
      await store.srem(keys.nodeEnrolments(), nodeId);
      return removed > 0;
    },
    get,
    async list() {
      const ids = (await store.smembers(keys.nodeEnrolments())).filter((id) => NODE_ID_RE.test(id)).sort();
      if (ids.length === 0) return [];
      const raws = await store.mget(ids.map((id) => keys.nodeEnrolment(id)));
      return ids.flatMap((id, i) => {
        const enrolment = parse(raws[i]);
        return enrolment?.nodeId === id ? [enrolment] : [];
      });
    },
    async verify(nodeId, token) {
      if (!NodeTokens.isWellFormed(token)) return undefined;
      const enrolment = await get(nodeId);
      if (enrolment === undefined) return undefined;
      const same = timingSafeEqual(Buffer.from(enrolment.tokenDigest, 'hex'), Buffer.from(tokenDigest(token), 'hex'));
      return same ? enrolment : undefined;
    },
  };
}
