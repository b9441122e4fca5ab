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
] as const;
export type UsageCounterField = (typeof USAGE_COUNTER_FIELDS)[number];
export type UsageCounters = Record<UsageCounterField, number>;

/** Every token sent to the model, exact: input plus cache creation plus cache reads. */
export function sentTokens(c: Pick<UsageCounters, 'inputTokens' | 'cacheCreationInputTokens' | 'cacheReadInputTokens'>): number {
  return c.inputTokens + c.cacheCreationInputTokens + c.cacheReadInputTokens;
}
