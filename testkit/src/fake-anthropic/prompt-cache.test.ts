// The cache's rules without HTTP: TTLs expire, hits refresh nothing they should not, short prefixes are skipped.
import { createPromptCache } from './prompt-cache.js';
import type { PromptSegment } from './tokenizer.js';

const segment = (key: string, tokens: number, cacheTtl?: '5m' | '1h'): PromptSegment =>
  cacheTtl ? { key, tokens, cacheTtl } : { key, tokens };

test('a 5m entry is read within five minutes and written again after', () => {
  let now = 1_000_000;
  const cache = createPromptCache({ now: () => now });
  const prompt = [segment('system', 100, '5m'), segment('user', 10)];
  expect(cache.apply('a', 'm', prompt).cacheCreationInputTokens).toBe(100);
  now += 4 * 60_000;
  expect(cache.apply('a', 'm', prompt).cacheReadInputTokens).toBe(100);
  now += 5 * 60_000 + 1;
  expect(cache.apply('a', 'm', prompt)).toMatchObject({ cacheReadInputTokens: 0, cacheCreationInputTokens: 100 });
});

test('a 1h entry outlives five minutes', () => {
  let now = 0;
  const cache = createPromptCache({ now: () => now });
  const prompt = [segment('system', 100, '1h')];
  cache.apply('a', 'm', prompt);
  now += 30 * 60_000;
  expect(cache.apply('a', 'm', prompt)).toMatchObject({ cacheReadInputTokens: 100, ephemeral1hInputTokens: 0 });
});

test('caches are per model and per account, and prefixes below the minimum are not cached', () => {
  const cache = createPromptCache({ minCacheableTokens: 50 });
  const prompt = [segment('tool', 20, '5m'), segment('system', 60, '5m'), segment('user', 5)];
  expect(cache.apply('a', 'm', prompt)).toMatchObject({ cacheCreationInputTokens: 80, inputTokens: 5 });
  expect(cache.apply('a', 'other-model', prompt).cacheReadInputTokens).toBe(0);
  expect(cache.apply('b', 'm', prompt).cacheReadInputTokens).toBe(0);
  expect(cache.apply('a', 'm', prompt).cacheReadInputTokens).toBe(80);
});
