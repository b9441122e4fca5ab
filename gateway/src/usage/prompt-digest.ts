// The prompt as a usage job carries it: every block's hash, and the content of only the blocks the
// block-token table does not know yet (docs/USAGE.md). Runs after the response ended, never before.
import { blockHash, promptBlocks, withDeadline, type Keyspace, type PromptDigest, type PromptParts, type ShippedBlock } from '@switchyard/shared';
import type { KnownHashes } from './known-hashes.js';

/** How the digest learnt which blocks to ship. */
export type DigestSource = 'redis' | 'memory' | 'redis_failed';

export interface PromptDigester {
  /**
   * Hashes the prompt's blocks and ships those neither this process nor Redis knows. With `askRedis`
   * false (Redis is known to be down) or when Redis does not answer, every block not known here is
   * shipped: a block shipped twice is harmless, a block not shipped loses its estimate.
   */
  digest(parts: PromptParts, opts: { askRedis: boolean }): Promise<{ digest: PromptDigest; source: DigestSource }>;
}

export interface PromptDigesterDeps {
  /** MGET on a connection that fails fast while Redis is away. */
  mget(keys: readonly string[]): Promise<(string | null)[]>;
  keys: Pick<Keyspace, 'blockTokens'>;
  /** The worker's tokeniser encoding: counts are kept per encoding. */
  encoding: string;
  known: KnownHashes;
  now(): number;
  /** A Redis that is connected but does not answer within this is treated as down. Default 1000. */
  timeoutMs?: number;
}

// One MGET per this many keys, so a huge conversation does not make one huge command.
const MGET_BATCH = 1_000;

/**
 * @example
 * const digester = createPromptDigester({ mget: (k) => store.mget(k), keys, encoding: 'o200k_base', known: createKnownHashes(), now: Date.now });
 * const { digest } = await digester.digest({ tools, system, messages }, { askRedis: true });
 */
export function createPromptDigester(deps: PromptDigesterDeps): PromptDigester {
  const timeoutMs = deps.timeoutMs ?? 1_000;

  /** The hashes (of `ask`) Redis has a count for; throws when Redis cannot answer. */
  async function knownInRedis(ask: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < ask.length; i += MGET_BATCH) {
      const batch = ask.slice(i, i + MGET_BATCH);
      const values = await withDeadline(deps.mget(batch.map((h) => deps.keys.blockTokens(deps.encoding, h))), timeoutMs, 'block count lookup');
      batch.forEach((h, j) => {
        if (values[j] !== null && values[j] !== undefined) found.add(h);
      });
    }
    return found;
  }

  return {
    async digest(parts, opts) {
      const blocks = promptBlocks(parts);
      const hashes = blocks.map(blockHash);
      const now = deps.now();
      // Each distinct unknown block once, in prompt order.
      const unknown = new Map<string, ShippedBlock>();
      hashes.forEach((hash, i) => {
        if (!unknown.has(hash) && !deps.known.has(hash, now)) unknown.set(hash, { hash, block: blocks[i] as ShippedBlock['block'] });
      });
      let source: DigestSource = 'memory';
      if (opts.askRedis && unknown.size > 0) {
        try {
          const found = await knownInRedis([...unknown.keys()]);
          for (const hash of found) {
            unknown.delete(hash);
            deps.known.add(hash, now);
          }
          source = 'redis';
        } catch {
          source = 'redis_failed';
        }
      }
      return { digest: { hashes, blocks: [...unknown.values()] }, source };
    },
  };
}
