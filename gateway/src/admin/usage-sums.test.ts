// The usage report's figures from raw usage hashes: exact integer sums, dollars converted once, the cache-read share.
import { sumHashes, withSums } from './usage-sums.js';

describe('usage sums', () => {
  it('sums micro-dollars as integers and converts once: 0.1 $ + 0.2 $ is 0.3 $', () => {
    const totals = withSums(sumHashes([{ costMicros: '100000' }, { costMicros: '200000' }]));
    expect(totals.costMicros).toBe(300_000);
    expect(totals.costUsd).toBe(0.3);
    expect(0.1 + 0.2).not.toBe(0.3); // what adding the dollars would have answered
  });

  it('keeps a negative saving, and reads fields never written (or not numbers) as 0', () => {
    const totals = withSums(
      sumHashes([
        { cacheSavingsMicros: '-1250', apiEquivalentMicros: '7' },
        { cacheSavingsMicros: 'x', someFutureField: '9' },
      ]),
    );
    expect(totals).toMatchObject({
      cacheSavingsMicros: -1_250,
      cacheSavingsUsd: -0.00125,
      apiEquivalentUsd: 0.000007,
      unpricedRequests: 0,
      stickyMoves: 0,
    });
    expect(totals).not.toHaveProperty('someFutureField');
  });

  it('splits the requests by route: chat completions as counted, messages the rest; a hash from before routes is all messages', () => {
    expect(
      withSums(sumHashes([{ requests: '5', chatCompletionRequests: '2' }, { requests: '3' }])).requestsByRoute,
    ).toEqual({ messages: 6, chat_completions: 2 });
    expect(withSums(sumHashes([{ requests: '4' }])).requestsByRoute).toEqual({ messages: 4, chat_completions: 0 });
    expect(withSums(sumHashes([])).requestsByRoute).toEqual({ messages: 0, chat_completions: 0 });
  });

  it('shares cache reads over every input token sent, and answers null when nothing was sent', () => {
    expect(
      withSums(sumHashes([{ inputTokens: '100', cacheCreationInputTokens: '10', cacheReadInputTokens: '1000' }]))
        .cacheReadShare,
    ).toBe(1000 / 1110);
    expect(withSums(sumHashes([{ outputTokens: '5' }])).cacheReadShare).toBeNull();
    expect(withSums(sumHashes([{ inputTokens: '5' }])).cacheReadShare).toBe(0);
  });
});
