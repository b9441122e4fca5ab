// The worker's token series carry the client route a request came in on: two values, never more.
import { USAGE_COUNTER_FIELDS, type UsageCounters } from '@switchyard/shared';
import { createWorkerMetrics } from './metrics.js';

const counters = (over: Partial<UsageCounters>): UsageCounters => ({
  ...(Object.fromEntries(USAGE_COUNTER_FIELDS.map((f) => [f, 0])) as UsageCounters),
  requests: 1,
  ...over,
});

// Never scraped here: the queue is only read by the gauges' collect().
const queue = {
  getJobCounts: () => Promise.reject(new Error('not read')),
  getRanges: () => Promise.reject(new Error('not read')),
  toKey: (type: string) => type,
  getBackend: () => ({ client: Promise.reject(new Error('not read')) }),
};

it('labels the tokens counted with the route: messages and chat_completions apart', async () => {
  const metrics = createWorkerMetrics({ queue, now: () => 0, version: '0.0.0', gitSha: 'test' });
  metrics.counted(
    { model: 'claude-sonnet-4-5', keyId: 'k1', route: 'messages' },
    counters({ inputTokens: 10, outputTokens: 3 }),
  );
  metrics.counted(
    { model: 'claude-sonnet-4-5', keyId: 'k1', route: 'chat_completions' },
    counters({ inputTokens: 7, cacheReadInputTokens: 100, outputTokens: 2, chatCompletionRequests: 1 }),
  );
  metrics.counted(
    { model: 'claude-sonnet-4-5', keyId: 'k2', route: 'chat_completions' },
    counters({ inputTokens: 1, outputTokens: 1, chatCompletionRequests: 1 }),
  );
  const { values } = await metrics.registry.getSingleMetric('switchyard_worker_tokens_total')!.get();
  const exact = (route: string, direction: string) =>
    values.find((v) => v.labels.route === route && v.labels.direction === direction && v.labels.kind === 'exact')
      ?.value;
  expect([
    exact('messages', 'sent'),
    exact('messages', 'received'),
    exact('chat_completions', 'sent'),
    exact('chat_completions', 'received'),
  ]).toEqual([10, 3, 108, 3]);
  expect(new Set(values.map((v) => v.labels.route))).toEqual(new Set(['messages', 'chat_completions']));
});
