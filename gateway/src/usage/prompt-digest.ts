// The prompt as a usage job carries it: every block's hash, and the content of only the blocks the
// block-token table does not know yet (docs/USAGE.md). Runs after the response ended, never before.
// Total over any prompt a client can send: the walks do not recurse, and a block that could not travel
// in the job as it is (nested too deep) is digested as its stand-in (shared/src/usage/portable-block.ts).
import {
  blockIdentity,
  promptBlocks,
  standInBlock,
  withDeadline,
  type Keyspace,
  type PromptDigest,
  type PromptParts,
  type ShippedBlock,
} from '@switchyard/shared';
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
  /** A Redis that is connected but does not answer within this is treated as down. Default 1000. */
  timeoutMs?: number;
}

/**
 * The digest for a prompt that could not be digested (the last resort; a digest does not throw on any
 * JSON a client can send): one empty stand-in, shipped, so the request is counted with its exact usage
 * and an estimate flagged approximate.
 */
export function undigestedPrompt(): PromptDigest {
  const { block, hash } = blockIdentity(standInBlock({ type: 'text', text: '' }));
  return { hashes: [hash], blocks: [{ hash, block }] };
}

// One MGET per this many keys, so a huge conversation does not make one huge command.
const MGET_BATCH = 1_000;

/**
 * @example
 * const digester = createPromptDigester({ mget: (k) => store.mget(k), keys, encoding: 'o200k_base', known: createKnownHashes() });
 * const { digest } = await digester.digest({ tools, system, messages }, { askRedis: true });
 */
export function createPromptDigester(deps: PromptDigesterDeps): PromptDigester {
  const timeoutMs = deps.timeoutMs ?? 1_000;

  /** The hashes (of `ask`) Redis has a count for; throws when Redis cannot answer. */
  async function knownInRedis(ask: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < ask.length; i += MGET_BATCH) {
      const batch = ask.slice(i, i + MGET_BATCH);
      const values = await withDeadline(
        deps.mget(batch.map((h) => deps.keys.blockTokens(deps.encoding, h))),
        timeoutMs,
        'block count lookup',
      );
      batch.forEach((h, j) => {
        if (values[j] !== null && values[j] !== undefined) found.add(h);
      });
    }
    return found;
  }

  return {
    async digest(parts, opts) {
      const identities = promptBlocks(parts).map(blockIdentity);
      const hashes = identities.map((identity) => identity.hash);
      // Each distinct unknown block once, in prompt order.
      const unknown = new Map<string, ShippedBlock>();
      for (const { hash, block } of identities) {
        if (!unknown.has(hash) && !deps.known.has(hash)) unknown.set(hash, { hash, block });
      }
      let source: DigestSource = 'memory';
      if (opts.askRedis && unknown.size > 0) {
        try {
          const found = await knownInRedis([...unknown.keys()]);
          for (const hash of found) {
            unknown.delete(hash);
            deps.known.add(hash);
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
