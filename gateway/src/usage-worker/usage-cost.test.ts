// Charged usage and the cost counters of one job, without Redis: the abort rule per side, API-equivalent value
// for OAuth accounts only, and what counts as an unpriced request.
import { loadPriceBook, type Usage } from '@switchyard/shared';
import { chargedUsage, jobCost, NO_COST } from './usage-cost.js';

const book = loadPriceBook();
const AT = Date.UTC(2026, 10, 14);
const EXACT: Usage = {
  inputTokens: 40,
  outputTokens: 1,
  cacheCreationInputTokens: 30,
  cacheCreation5mInputTokens: 30,
  cacheCreation1hInputTokens: 0,
  cacheReadInputTokens: 20,
};
const est = (input: number, output: number) => ({
  estimatedInputTokens: input,
  estimatedOutputTokens: output,
  estimateMissingBlocks: 0,
  approximate: false,
});
const job = (over: Partial<Parameters<typeof jobCost>[0]> = {}) => ({
  model: 'claude-sonnet-4-5',
  at: AT,
  usage: EXACT,
  aborted: false,
  brokeMidStream: false,
  accountKind: 'api_key' as const,
  ...over,
});

describe('chargedUsage', () => {
  test('a response that ended is charged its exact usage, whatever the estimate', () => {
    expect(chargedUsage(job(), est(10_000, 10_000))).toEqual(EXACT);
  });

  test.each([{ aborted: true }, { brokeMidStream: true }])(
    '%o is charged at least the estimate per side, the extra input as plain input',
    (flags) => {
      expect(chargedUsage(job(flags), est(500, 70))).toEqual({
        ...EXACT,
        inputTokens: 40 + (500 - 90),
        outputTokens: 70,
      });
      // Where the exact side is larger (cache writes and reads count as input), it stays.
      expect(chargedUsage(job(flags), est(50, 0))).toEqual(EXACT);
      expect(chargedUsage(job({ ...flags, usage: null }), est(500, 70))).toMatchObject({
        inputTokens: 500,
        outputTokens: 70,
        cacheReadInputTokens: 0,
      });
    },
  );
});

describe('jobCost', () => {
  test('prices the charged usage at the time the request arrived', () => {
    const cost = book.cost('claude-sonnet-4-5', EXACT, AT);
    expect(jobCost(job(), est(0, 0), book)).toEqual({
      costMicros: cost.costMicros,
      apiEquivalentMicros: 0,
      cacheSavingsMicros: cost.cacheSavingsMicros,
      unpricedRequests: 0,
    });
    expect(jobCost(job({ aborted: true }), est(500, 70), book).costMicros).toBe(
      book.cost('claude-sonnet-4-5', chargedUsage(job({ aborted: true }), est(500, 70)), AT).costMicros,
    );
  });

  test('the cost of an OAuth account is also its API-equivalent value', () => {
    const { costMicros, apiEquivalentMicros } = jobCost(job({ accountKind: 'oauth' }), est(0, 0), book);
    expect(costMicros).toBeGreaterThan(0);
    expect(apiEquivalentMicros).toBe(costMicros);
    expect(jobCost(job({ accountKind: null }), est(0, 0), book).apiEquivalentMicros).toBe(0);
  });

  test('a model with no price is one unpriced request at zero cost, unless it used no tokens', () => {
    expect(jobCost(job({ model: 'claude-unreleased-x9' }), est(0, 0), book)).toEqual({
      ...NO_COST,
      unpricedRequests: 1,
    });
    expect(jobCost(job({ model: 'claude-unreleased-x9', usage: null }), est(0, 0), book)).toEqual(NO_COST);
  });
});
