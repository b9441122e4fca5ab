// The conversation-history hash table (keys.blockTokens): every content block's token count, by the
// SHA-256 of its canonical JSON, so a conversation's history is tokenised once, not on every turn.
// Round trips per job (docs/USAGE.md, "Throughput"): one read for the hashes this process does not
// remember (none on a warm conversation), and the writes ride in the same round trip as the job's totals.
import { LRUCache } from 'lru-cache';
import {
  blockHash,
  blockIdentity,
  countableText,
  isStandIn,
  type ContentBlock,
  type Keyspace,
  type KeyValueStore,
  type Logger,
  type PromptDigest,
  type RenewingWrite,
} from '@switchyard/shared';
import type { TokenBudget, Tokenizer } from './tokenizer.js';

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
  /** Part of the estimate came from text length, not the tokeniser: its budget ran out, now or when a block was first counted. */
  approximate: boolean;
}

/** A job's counts, and the table writes still to be made (in the same round trip as the job's totals). */
export interface CountedBlocks {
  counts: JobBlockCounts;
  /** This job's block-table writes: new counts, and TTL refreshes that fell due. Harmless to repeat. */
  writes: RenewingWrite[];
}

/** What a block counter needs: the table's store and keys, the tokeniser, and how long counts live. */
export interface BlockCounterDeps {
  store: Pick<KeyValueStore, 'readAndRenew'>;
  keys: Pick<Keyspace, 'blockTokens'>;
  tokenizer: Tokenizer;
  encoding: string;
  ttlSeconds: number;
  log: Logger;
  /** Counts this process computed or read lately, so a warm conversation costs no lookup. Default 50,000. */
  memoSize?: number;
  /** Epoch ms; decides when a remembered count's TTL in Redis is due for a refresh. Default Date.now. */
  now?: () => number;
}

/** Counts one job's blocks, tokenising only those neither this process nor Redis knows. */
export interface BlockCounter {
  count(prompt: PromptDigest | null, output: readonly ContentBlock[], budget: TokenBudget): Promise<CountedBlocks>;
}

/** One block's count; `approximate` when the tokeniser's budget ran out while counting it. */
interface BlockCount {
  tokens: number;
  approximate: boolean;
}

// In Redis a count is its decimal digits; one counted partly from length is prefixed with '~', so every later
// job that reuses it says its estimate is approximate too. The gateway only asks whether a key exists.
function encodeCount(c: BlockCount): string {
  return c.approximate ? `~${c.tokens}` : String(c.tokens);
}

function parseCount(raw: string | null | undefined): BlockCount | undefined {
  if (raw === null || raw === undefined) return undefined;
  const approximate = raw.startsWith('~');
  const n = Number(approximate ? raw.slice(1) : raw);
  return Number.isSafeInteger(n) && n >= 0 ? { tokens: n, approximate } : undefined;
}

interface Remembered extends BlockCount {
  /** When this process last set or refreshed the count's TTL in Redis. */
  refreshedAt: number;
}

/** Counts this process remembers, by hash. */
interface Memo {
  get(hash: string): Remembered | undefined;
  set(hash: string, entry: Remembered): unknown;
}

const NO_MEMO: Memo = { get: () => undefined, set: () => undefined };

/**
 * Redis did not answer the block lookup: the job is retried, unlike a failure of the counting itself
 * (which the handler turns into an approximate estimate).
 */
export class BlockLookupError extends Error {
  override readonly name = 'BlockLookupError';
  constructor(override readonly cause: unknown) {
    super('block count lookup failed', { cause });
  }
}

/**
 * The block-token table's reader and writer. A count this process remembers costs no Redis read; its TTL is
 * refreshed at most every `refreshMs` (an hour, or half the TTL if shorter), in the job's write pipeline. Counts
 * it does not remember come from Redis in one round trip that refreshes their TTL; the rest are tokenised once (if
 * shipped and honest) within the job's budget.
 * @example
 * const counter = createBlockCounter({ store, keys, tokenizer, encoding: 'o200k_base', ttlSeconds: 604_800, log });
 * const { counts, writes } = await counter.count(job.prompt, outputBlocks, { remainingMs: 250 });
 */
export function createBlockCounter(deps: BlockCounterDeps): BlockCounter {
  return new MemoizedBlockCounter(deps);
}

/** One job's blocks on their way to counts: what it brought, what is known of them, what is to be written. */
class JobBlocks {
  readonly promptHashes: readonly string[];
  readonly outputHashes: readonly string[];
  /** The blocks whose content came with the job, by hash: the prompt's shipped ones and the answer's. */
  readonly shipped: Map<string, ContentBlock>;
  readonly outputSet: ReadonlySet<string>;
  readonly counts = new Map<string, BlockCount>();
  readonly toWrite = new Map<string, BlockCount>();
  readonly toRefresh: string[] = [];
  /** The distinct hashes this process did not remember, in the job's order: Redis is asked for these. */
  readonly ask: string[] = [];
  rejectedBlocks = 0;
  newBlocks = 0;

  constructor(
    prompt: PromptDigest | null,
    output: readonly ContentBlock[],
    readonly at: number,
  ) {
    this.promptHashes = prompt?.hashes ?? [];
    // An answer's block gets the identity the gateway gives it when the client sends it back: its stand-in
    // if it could not travel in a job.
    const outputIds = output.map(blockIdentity);
    this.outputHashes = outputIds.map((id) => id.hash);
    this.shipped = new Map((prompt?.blocks ?? []).map(({ hash, block }) => [hash, block as ContentBlock]));
    for (const { hash, block } of outputIds) this.shipped.set(hash, block);
    this.outputSet = new Set(this.outputHashes);
  }

  /** What the job's blocks add up to, once every count it could have is in. */
  tally(tokenizerCalls: number): JobBlockCounts {
    let estimatedInputTokens = 0;
    let estimateMissingBlocks = 0;
    let approximate = false;
    for (const hash of this.promptHashes) {
      const c = this.counts.get(hash);
      if (c === undefined) estimateMissingBlocks += 1;
      else {
        estimatedInputTokens += c.tokens;
        approximate ||= c.approximate;
      }
    }
    let estimatedOutputTokens = 0;
    for (const hash of this.outputHashes) {
      const c = this.counts.get(hash);
      estimatedOutputTokens += c?.tokens ?? 0;
      approximate ||= c?.approximate === true;
    }
    return {
      estimatedInputTokens,
      estimatedOutputTokens,
      estimateMissingBlocks,
      newBlocks: this.newBlocks,
      tokenizerCalls,
      rejectedBlocks: this.rejectedBlocks,
      approximate,
    };
  }
}

/** Counts by hash through the process's memo, then Redis, then the tokeniser. */
class MemoizedBlockCounter implements BlockCounter {
  readonly #store: Pick<KeyValueStore, 'readAndRenew'>;
  readonly #keys: Pick<Keyspace, 'blockTokens'>;
  readonly #tokenizer: Tokenizer;
  readonly #encoding: string;
  readonly #log: Logger;
  readonly #memo: Memo;
  readonly #now: () => number;
  readonly #ttlMs: number;
  readonly #refreshMs: number;
  // An arrow made once per counter, so the lookup hands it to map() without a closure per job.
  readonly #keyOf = (hash: string): string => this.#keys.blockTokens(this.#encoding, hash);

  constructor(deps: BlockCounterDeps) {
    this.#store = deps.store;
    this.#keys = deps.keys;
    this.#tokenizer = deps.tokenizer;
    this.#encoding = deps.encoding;
    this.#log = deps.log;
    // The least recently used count is forgotten first; a memoSize of 0 remembers nothing.
    const memoSize = deps.memoSize ?? 50_000;
    this.#memo = memoSize > 0 ? new LRUCache<string, Remembered>({ max: memoSize }) : NO_MEMO;
    this.#now = deps.now ?? Date.now;
    this.#ttlMs = deps.ttlSeconds * 1000;
    this.#refreshMs = Math.min(3_600_000, this.#ttlMs / 2);
  }

  async count(
    prompt: PromptDigest | null,
    output: readonly ContentBlock[],
    budget: TokenBudget,
  ): Promise<CountedBlocks> {
    const job = new JobBlocks(prompt, output, this.#now());
    this.#recall(job);
    for (const [hash, c] of await this.#lookup(job.ask)) {
      job.counts.set(hash, c);
      this.#memo.set(hash, { ...c, refreshedAt: job.at });
    }
    const callsBefore = this.#tokenizer.calls;
    this.#measureUnknown(job, budget);
    if (job.rejectedBlocks > 0)
      this.#log.warn('shipped block does not match its hash', { rejected: job.rejectedBlocks });
    for (const hash of job.toRefresh)
      this.#memo.set(hash, { ...(job.counts.get(hash) as BlockCount), refreshedAt: job.at });
    return { counts: job.tally(this.#tokenizer.calls - callsBefore), writes: this.#writes(job) };
  }

  /** The counts this process remembers; the rest of the job's distinct hashes go to `ask`. */
  #recall(job: JobBlocks): void {
    // Both lists into one Set without spreading them into an array first: the allocation that pays for the JobBlocks.
    const distinct = new Set(job.promptHashes);
    for (const hash of job.outputHashes) distinct.add(hash);
    for (const hash of distinct) {
      const remembered = this.#memo.get(hash);
      if (remembered === undefined) {
        job.ask.push(hash);
        continue;
      }
      job.counts.set(hash, remembered);
      // Shipped means the gateway found no count in Redis (evicted, flushed): write it back.
      if (job.shipped.has(hash) && !job.outputSet.has(hash)) job.toWrite.set(hash, remembered);
      else if (job.at - remembered.refreshedAt >= this.#refreshMs) job.toRefresh.push(hash);
    }
  }

  /** One round trip: the counts Redis has, each one's TTL refreshed as it is read. */
  async #lookup(hashes: readonly string[]): Promise<Map<string, BlockCount>> {
    const known = new Map<string, BlockCount>();
    if (hashes.length === 0) return known;
    let values: (string | null)[];
    try {
      values = await this.#store.readAndRenew(hashes.map(this.#keyOf), this.#ttlMs);
    } catch (err) {
      throw new BlockLookupError(err);
    }
    hashes.forEach((hash, i) => {
      const c = parseCount(values[i]);
      if (c !== undefined) known.set(hash, c);
    });
    return known;
  }

  // Only blocks nobody counted reach the tokeniser; a shipped one only if its content is what its hash says.
  #measureUnknown(job: JobBlocks, budget: TokenBudget): void {
    let measuredBefore = false;
    for (const hash of job.ask) {
      if (job.counts.has(hash)) continue;
      const block = job.shipped.get(hash);
      if (block === undefined) continue;
      if (!job.outputSet.has(hash) && blockHash(block) !== hash) {
        job.rejectedBlocks += 1;
        continue;
      }
      const measured = this.#tokenizer.measure(countableText(block), budget);
      // A stand-in's count is of the text of a block that could not travel as it was: approximate, here and
      // (kept as ~N) in every later job that reuses it.
      const c = isStandIn(block) ? { tokens: measured.tokens, approximate: true } : measured;
      job.counts.set(hash, c);
      const first = !measuredBefore;
      measuredBefore = true;
      // A count cut short by the budget is kept only for a block that used up a whole budget by itself: it would
      // do so again, so later turns reuse it (flagged). A block cut short because earlier ones took the budget is
      // counted exactly by a later job instead.
      if (measured.approximate && !first) continue;
      job.toWrite.set(hash, c);
      this.#memo.set(hash, { ...c, refreshedAt: job.at });
      job.newBlocks += 1;
    }
  }

  #writes(job: JobBlocks): RenewingWrite[] {
    return [
      ...[...job.toWrite].map(([hash, c]) => ({ key: this.#keyOf(hash), value: encodeCount(c), ttlMs: this.#ttlMs })),
      ...job.toRefresh.map((hash) => ({ key: this.#keyOf(hash), ttlMs: this.#ttlMs })),
    ];
  }
}
