// One usage job, start to finish: validate, rebuild the response's blocks, count the blocks nobody
// counted before, and add the totals once (docs/USAGE.md). BullMQ calls this through usage-processor.ts (which
// wraps each job in a span when tracing is on); tests call it directly.
// A job the gateway built is always counted with its exact usage: only the estimate may fail, and then it
// is recorded as approximate (docs/USAGE.md, "Whatever its shape").
import { UnrecoverableError } from 'bullmq';
import {
  blocksFromStream,
  loadPriceBook,
  promptBlocks,
  readJobPayload,
  usageModelName,
  type ContentBlock,
  type JobData,
  type Keyspace,
  type KeyValueStore,
  type Logger,
  type OnceStore,
  type PriceBook,
  type ResponseContent,
  type UsageCounters,
  type UsageJob,
} from '@switchyard/shared';
import {
  BlockLookupError,
  createBlockCounter,
  type BlockCounter,
  type CountedBlocks,
  type JobBlockCounts,
} from './block-counts.js';
import { DEFAULT_JOB_TOKENIZER_BUDGET_MS, type Tokenizer } from './tokenizer.js';
import { jobCost } from './usage-cost.js';
import {
  createUsageTotals,
  recentEntry,
  usageCounters,
  usageJobKeys,
  type UsageJobKeys,
  type UsageTotals,
} from './usage-totals.js';

/** What the handler needs of the store: the block table's read, and the exactly-once write of the totals. */
export type UsageStore = Pick<KeyValueStore, 'readAndRenew'> & Pick<OnceStore, 'writeOnce'>;

export interface UsageHandlerDeps {
  store: UsageStore;
  keys: Keyspace;
  tokenizer: Tokenizer;
  /** The tokenizer's encoding: block counts are kept per encoding. */
  encoding: string;
  /** TTL of a block's count, refreshed on every use. */
  ttlSeconds: number;
  /** How long the per-day usage hashes and index sets live after their last write. */
  retentionDays: number;
  log: Logger;
  /** Prices each counted request (docs/COST.md). Default: genai-prices' data alone, loadPriceBook(). */
  priceBook?: PriceBook;
  /** Block counts kept in this process besides Redis (see createBlockCounter). */
  memoSize?: number;
  /** Tokeniser time one job may take; past it the rest is estimated from length (docs/USAGE.md). Default DEFAULT_JOB_TOKENIZER_BUDGET_MS. */
  tokenizerBudgetMs?: number;
  /** Epoch ms, for when remembered block counts are due a TTL refresh. Default Date.now. */
  now?: () => number;
  /** Told about each request counted now (never about a duplicate the done marker stopped), e.g. for the metrics. */
  onCounted?(job: UsageJob, counters: UsageCounters): void;
}

/** What handling one job did: whether it counted (false: counted before) and what it cost the tokeniser. */
export interface UsageOutcome extends JobBlockCounts {
  requestId: string;
  counted: boolean;
  /** Tokeniser time this job took (ms, by the tokeniser's clock). */
  tokenizerMs: number;
}

export interface UsageHandler {
  /**
   * Counts one job's request exactly once. Throws UnrecoverableError for a payload that can never be
   * counted (invalid, or ids that cannot be part of a key); any other error is Redis's, and retrying helps.
   * The same as `count(readUsageJob(data))`.
   */
  handle(data: JobData<'usage'>): Promise<UsageOutcome>;
  /** Counts a job readUsageJob() read, exactly once: for a caller that needs the job itself first (its span). */
  count(job: UsageJob): Promise<UsageOutcome>;
}

/** The response's content blocks, in the form a client sends them back as history next turn. */
function outputBlocks(output: ResponseContent | null): ContentBlock[] {
  if (output === null) return [];
  if (output.kind === 'sse') return blocksFromStream(output.events);
  // The same normalisation as the prompt's blocks (strings as text blocks, no cache_control), so the
  // answer hashes like the history block it becomes.
  return promptBlocks({ messages: [{ role: 'assistant', content: output.content }] });
}

/** The job a queue's data holds; throws UnrecoverableError for a payload that can never be counted. */
export function readUsageJob(data: JobData<'usage'>): UsageJob {
  // The queue's data is checked all the same: an older, newer or hostile producer may have put anything there.
  const read = readJobPayload('usage', data);
  if (!read.ok) throw new UnrecoverableError(`usage job payload is invalid (${read.problems})`);
  // The model is client text and part of keys: a job from an older gateway is counted as a newer one would count it.
  return { ...read.payload, model: usageModelName(read.payload.model) };
}

function jobKeys(keys: Keyspace, job: UsageJob): UsageJobKeys {
  try {
    return usageJobKeys(keys, job);
  } catch (err) {
    if (err instanceof RangeError) throw new UnrecoverableError(`usage job cannot be keyed: ${err.message}`);
    throw err;
  }
}

/** Distinct unpriced models one process logs; past it a client inventing model names cannot grow the set (the rows and the metric still count them). */
const UNPRICED_MODELS_LOGGED = 1_000;

/** The estimate of a job whose counting threw: nothing estimated, flagged approximate, nothing written to the table. */
function failedEstimate(): CountedBlocks {
  return {
    counts: {
      estimatedInputTokens: 0,
      estimatedOutputTokens: 0,
      estimateMissingBlocks: 0,
      newBlocks: 0,
      tokenizerCalls: 0,
      rejectedBlocks: 0,
      approximate: true,
    },
    writes: [],
  };
}

/**
 * @example
 * const handler = createUsageHandler({ store: createIoRedisStore(connection), keys, tokenizer, encoding: 'o200k_base', ttlSeconds: 604_800, retentionDays: 400, log, priceBook: loadPriceBook({ pricesFile }) });
 * new Worker<JobData<'usage'>, UsageOutcome>(JobCatalog.usage.queue, (job) => handler.handle(job.data), { connection, prefix });
 */
export function createUsageHandler(deps: UsageHandlerDeps): UsageHandler {
  return new CountingUsageHandler(deps);
}

class CountingUsageHandler implements UsageHandler {
  readonly #keys: Keyspace;
  readonly #log: Logger;
  // onCounted is called on the deps it came in, as it was: it is declared a method and may use `this`.
  readonly #observer: Pick<UsageHandlerDeps, 'onCounted'>;
  readonly #blocks: BlockCounter;
  readonly #budgetMs: number;
  readonly #prices: PriceBook;
  readonly #totals: UsageTotals;
  readonly #unpricedLogged = new Set<string>();

  constructor(deps: UsageHandlerDeps) {
    this.#keys = deps.keys;
    this.#log = deps.log;
    this.#observer = deps;
    this.#blocks = createBlockCounter({
      store: deps.store,
      keys: deps.keys,
      tokenizer: deps.tokenizer,
      encoding: deps.encoding,
      ttlSeconds: deps.ttlSeconds,
      log: deps.log,
      ...(deps.memoSize === undefined ? {} : { memoSize: deps.memoSize }),
      ...(deps.now === undefined ? {} : { now: deps.now }),
    });
    this.#budgetMs = deps.tokenizerBudgetMs ?? DEFAULT_JOB_TOKENIZER_BUDGET_MS;
    this.#prices = deps.priceBook ?? loadPriceBook();
    this.#totals = createUsageTotals({
      store: deps.store,
      retentionDays: deps.retentionDays,
      priceVersion: this.#prices.version,
    });
  }

  async handle(data: JobData<'usage'>): Promise<UsageOutcome> {
    return this.count(readUsageJob(data));
  }

  async count(job: UsageJob): Promise<UsageOutcome> {
    // 1. Everything that can make the job uncountable is found before any work is done (its payload was read).
    const target = jobKeys(this.#keys, job);
    // 2. The js-tiktoken side: only blocks the table does not know reach the tokeniser, within the job's budget.
    const budget = { remainingMs: this.#budgetMs };
    const { counts, writes } = await this.#estimate(job, budget);
    const tokenizerMs = this.#budgetMs - budget.remainingMs;
    if (budget.remainingMs <= 0)
      this.#log.info('usage estimate approximate: tokeniser budget ran out', {
        requestId: job.requestId,
        budgetMs: this.#budgetMs,
        tokenizerMs: Math.round(tokenizerMs),
      });
    // 3. The marker and every increment in one atomic write: a duplicate finds the marker and adds nothing. The
    //    new block counts go in the same round trip, made either way.
    //    Its cost is priced here, off the request path, from the charged usage (docs/COST.md).
    const counters = usageCounters(job, counts, jobCost(job, counts, this.#prices));
    const counted = await this.#totals.record(target, counters, recentEntry(job, counters), writes);
    if (counted && counters.unpricedRequests > 0) this.#noteUnpriced(job.model);
    if (counted) this.#observer.onCounted?.(job, counters);
    this.#logHandled(job, counted, counts, tokenizerMs);
    return { requestId: job.requestId, counted, tokenizerMs, ...counts };
  }

  /**
   * The job's block counts. Redis not answering the lookup is thrown (a retry helps); anything else that throws
   * while estimating is the estimate's failure only: the request is counted with its exact usage all the same.
   */
  async #estimate(job: UsageJob, budget: { remainingMs: number }): Promise<CountedBlocks> {
    try {
      return await this.#blocks.count(job.prompt, outputBlocks(job.output), budget);
    } catch (err) {
      if (err instanceof BlockLookupError) throw err.cause;
      // The error's class only: its message may quote the job's text.
      this.#log.warn('usage estimate failed: counted with exact usage, estimate approximate', {
        requestId: job.requestId,
        error: err instanceof Error ? err.name : typeof err,
      });
      return failedEstimate();
    }
  }

  #noteUnpriced(model: string): void {
    if (this.#unpricedLogged.has(model) || this.#unpricedLogged.size >= UNPRICED_MODELS_LOGGED) return;
    this.#unpricedLogged.add(model);
    this.#log.warn('usage model has no price: counted at zero cost', { model, priceVersion: this.#prices.version });
  }

  #logHandled(job: UsageJob, counted: boolean, counts: JobBlockCounts, tokenizerMs: number): void {
    this.#log.debug('usage job handled', {
      requestId: job.requestId,
      // The request's trace (the gateway's span), what an operator searches for: there whether or not this
      // process exports spans of its own. The schema checked the traceparent's shape: its trace id is at 3–35.
      traceId: job.traceparent?.slice(3, 35),
      counted,
      tokenizerCalls: counts.tokenizerCalls,
      newBlocks: counts.newBlocks,
      estimateMissingBlocks: counts.estimateMissingBlocks,
      rejectedBlocks: counts.rejectedBlocks,
      approximate: counts.approximate,
      tokenizerMs: Math.round(tokenizerMs * 100) / 100,
    });
  }
}
