/**
 * The client APIs a request can come in on: `messages` (`POST /v1/messages`) and `chat_completions`
 * (`POST /v1/chat/completions`, translated to a Messages request by the gateway). A usage job, a recent entry and
 * the worker's metrics name one of them.
 */
export const USAGE_ROUTES = ['messages', 'chat_completions'] as const;
export type UsageRoute = (typeof USAGE_ROUTES)[number];

/**
 * The fields of every usage hash (`keys.usage(scope, id, day)` and `keys.usageAllTime()`), written by
 * the usage worker and read by the admin API and the per-key daily budget.
 */
export const USAGE_COUNTER_FIELDS = [
  'requests',
  /** Answers with status >= 400 (a client's own hang-up, 499, is not one) and streams that broke off. */
  'errors',
  /** Requests the client hung up on before the response ended. */
  'aborted',
  // Exact, as Anthropic reported them.
  'inputTokens',
  'outputTokens',
  'cacheCreationInputTokens',
  'cacheCreation5mInputTokens',
  'cacheCreation1hInputTokens',
  'cacheReadInputTokens',
  // js-tiktoken counts of the same request: input = tools + system + messages, output = text, thinking, tool input.
  'estimatedInputTokens',
  'estimatedOutputTokens',
  /** Prompt blocks whose count was no longer known and whose text was not shipped (their estimate is missing). */
  'estimateMissingBlocks',
  /**
   * Requests whose estimate is approximate: the worker's per-job tokeniser budget ran out and the rest was
   * estimated from its length, or a block counted that way before was part of the prompt, or a block
   * travelled as a stand-in, or estimating failed (docs/USAGE.md, "Whatever its shape").
   */
  'approximateEstimates',
  /** Sum of request durations, for the mean latency. */
  'durationMs',
  // Dollars, as integer micro-dollars (never floats accumulated), priced by the usage worker (docs/COST.md).
  /**
   * What the requests cost at API list prices (genai-prices, or PRICES_FILE), charged on the exact usage; an
   * aborted or broken response is charged at least its estimate (max of exact and js-tiktoken, per side).
   */
  'costMicros',
  /** The part of costMicros served by subscription (OAuth) accounts: its API-equivalent value, not billed per token. */
  'apiEquivalentMicros',
  /** What prompt caching saved: the same tokens all at the plain input price, minus what they cost. Negative when writes outweighed reads. */
  'cacheSavingsMicros',
  /** Requests whose model has no price (counted at zero cost, flagged). */
  'unpricedRequests',
  /** Requests that wrote to the prompt cache and read nothing from it. */
  'cacheMisses',
  /** Requests of a sticky conversation answered by another node than the one it was pinned to (its cache stayed behind). */
  'stickyMoves',
  /**
   * Requests that came in on `POST /v1/chat/completions` (OpenAI format, translated to a Messages request). The
   * rest of `requests` came in on `/v1/messages`; every other counter counts both alike (docs/OPENAI.md).
   */
  'chatCompletionRequests',
  /**
   * Tokens the requests were charged against the daily token budget: input, cache writes, cache reads and output
   * of the charged usage (an aborted or broken response at least its estimate, like costMicros).
   */
  'chargedTokens',
] as const;
export type UsageCounterField = (typeof USAGE_COUNTER_FIELDS)[number];
export type UsageCounters = Record<UsageCounterField, number>;

/** The fields of a usage hash the daily token budget reads before `chargedTokens` existed. */
export const EXACT_TOKEN_FIELDS = [
  'inputTokens',
  'outputTokens',
  'cacheCreationInputTokens',
  'cacheReadInputTokens',
] as const;

/**
 * What a usage hash counts against a daily token budget: its `chargedTokens`, or the exact tokens where they
 * are more (a day that began before `chargedTokens` was written). `field` reads one field as a number (0 if absent).
 */
export function budgetTokens(field: (name: UsageCounterField) => number): number {
  let exact = 0;
  for (const name of EXACT_TOKEN_FIELDS) exact += field(name);
  return Math.max(field('chargedTokens'), exact);
}

/** Every token sent to the model, exact: input plus cache creation plus cache reads. */
export function sentTokens(
  c: Pick<UsageCounters, 'inputTokens' | 'cacheCreationInputTokens' | 'cacheReadInputTokens'>,
): number {
  return c.inputTokens + c.cacheCreationInputTokens + c.cacheReadInputTokens;
}
