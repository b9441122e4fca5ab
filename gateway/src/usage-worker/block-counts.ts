// The conversation-history hash table (keys.blockTokens): every content block's token count, by the
// SHA-256 of its canonical JSON, so a conversation's history is tokenised once, not on every turn.
import type { Redis } from 'ioredis';
import { blockHash, countableText, type ContentBlock, type Keyspace, type Logger, type PromptDigest } from '@switchyard/shared';
import type { Tokenizer } from './tokenizer.js';

/** What one job's blocks add up to. */
export interface JobBlockCounts {
  /** Sum over the prompt's hashes (a block sent twice counts twice). */
  estimatedInputTokens: number;
  /** Sum over the response's content blocks. */
  estimatedOutputTokens: number;
  /** Prompt block occurrences whose count was unknown and whose content was not shipped. */
  estimateMissingBlocks: number;
  /** Distinct blocks whose count this job added to the table. */
  newBlocks: number;
  /** Tokeniser calls this job made (one per distinct non-empty block it did not know). */
  tokenizerCalls: number;
  /** Shipped blocks ignored because their content did not hash to the hash they came with. */
  rejectedBlocks: number;
  /** Part of the estimate came from text length, not the tokeniser. */
  approximate: boolean;
}

/** What a block counter needs: the table's Redis and keys, the tokeniser, and how long counts live. */
export interface BlockCounterDeps {
  redis: Redis;
  keys: Pick<Keyspace, 'blockTokens'>;
  tokenizer: Tokenizer;
  encoding: string;
  ttlSeconds: number;
  log: Logger;
  /** Counts this process computed or read lately, kept so a block evicted from Redis is not tokenised again. Default 50,000. */
  memoSize?: number;
}

/** Counts one job's blocks, tokenising only those neither Redis nor this process knows. */
export interface BlockCounter {
  count(prompt: PromptDigest | null, output: readonly ContentBlock[]): Promise<JobBlockCounts>;
}

function parseCount(raw: string | null | undefined): number | undefined {
  if (raw === null || raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/** A bounded map that forgets its oldest entry first. */
function createMemo(max: number) {
  const map = new Map<string, number>();
  return {
    get: (hash: string) => map.get(hash),
    set(hash: string, count: number) {
      if (max <= 0) return;
      map.delete(hash);
      map.set(hash, count);
      if (map.size > max) map.delete(map.keys().next().value as string);
    },
  };
}

/**
 * The block-token table's reader and writer: each job's known counts come from Redis in one pipeline
 * (their TTLs refreshed), unknown blocks are tokenised once (if shipped and honest) and written back.
 * @example
 * const counter = createBlockCounter({ redis, keys, tokenizer, encoding: 'o200k_base', ttlSeconds: 604_800, log });
 * const { estimatedInputTokens, estimatedOutputTokens } = await counter.count(job.prompt, outputBlocks);
 */
export function createBlockCounter(deps: BlockCounterDeps): BlockCounter {
  const memo = createMemo(deps.memoSize ?? 50_000);
  const keyOf = (hash: string) => deps.keys.blockTokens(deps.encoding, hash);

  /** One round trip: the known counts, each one's TTL refreshed as it is read (GETEX). */
  async function lookup(hashes: readonly string[]): Promise<Map<string, number>> {
    const known = new Map<string, number>();
    if (hashes.length === 0) return known;
    const pipeline = deps.redis.pipeline();
    for (const hash of hashes) pipeline.getex(keyOf(hash), 'EX', deps.ttlSeconds);
    const replies = (await pipeline.exec()) ?? [];
    hashes.forEach((hash, i) => {
      const [err, value] = replies[i] ?? [null, null];
      if (err) throw err;
      const n = parseCount(value as string | null);
      if (n !== undefined) known.set(hash, n);
    });
    return known;
  }

  async function store(counts: ReadonlyMap<string, number>): Promise<void> {
    if (counts.size === 0) return;
    const pipeline = deps.redis.pipeline();
    for (const [hash, n] of counts) pipeline.set(keyOf(hash), String(n), 'EX', deps.ttlSeconds);
    const replies = (await pipeline.exec()) ?? [];
    const failed = replies.find(([err]) => err);
    if (failed?.[0]) throw failed[0];
  }

  /** The shipped blocks whose content really is what their hash says; the others are not trusted. */
  function verifiedShipped(prompt: PromptDigest | null): { content: Map<string, ContentBlock>; rejected: number } {
    const content = new Map<string, ContentBlock>();
    let rejected = 0;
    for (const { hash, block } of prompt?.blocks ?? []) {
      if (blockHash(block) === hash) content.set(hash, block);
      else rejected += 1;
    }
    return { content, rejected };
  }

  return {
    async count(prompt, output) {
      const promptHashes = prompt?.hashes ?? [];
      const outputHashes = output.map(blockHash);
      const { content, rejected } = verifiedShipped(prompt);
      if (rejected > 0) deps.log.warn('shipped block does not match its hash', { rejected });
      outputHashes.forEach((hash, i) => content.set(hash, output[i] as ContentBlock));

      const distinct = [...new Set([...promptHashes, ...outputHashes])];
      const counts = await lookup(distinct);
      const fresh = new Map<string, number>();
      const callsBefore = deps.tokenizer.calls;
      for (const hash of distinct) {
        const known = counts.get(hash);
        if (known !== undefined) {
          memo.set(hash, known);
          continue;
        }
        const block = content.get(hash);
        const n = memo.get(hash) ?? (block ? deps.tokenizer.count(countableText(block)) : undefined);
        if (n === undefined) continue;
        counts.set(hash, n);
        fresh.set(hash, n);
        memo.set(hash, n);
      }
      const tokenizerCalls = deps.tokenizer.calls - callsBefore;
      await store(fresh);

      let estimatedInputTokens = 0;
      let estimateMissingBlocks = 0;
      for (const hash of promptHashes) {
        const n = counts.get(hash);
        if (n === undefined) estimateMissingBlocks += 1;
        else estimatedInputTokens += n;
      }
      const estimatedOutputTokens = outputHashes.reduce((sum, hash) => sum + (counts.get(hash) ?? 0), 0);
      return { estimatedInputTokens, estimatedOutputTokens, estimateMissingBlocks, newBlocks: fresh.size, tokenizerCalls, rejectedBlocks: rejected, approximate: false };
    },
  };
}
