// The exactly-once totals through the store contract, on the in-memory twin with an injected clock (the same
// writes run on Redis in usage-handler.int.test.ts): what one request adds, that a repeat adds nothing but its
// block writes, and how long each figure lives.
import {
  createKeyspace,
  USAGE_COUNTER_FIELDS,
  type RecentRequest,
  type UsageCounters,
  type UsageJob,
} from '@switchyard/shared';
import { createMemoryStore } from '@switchyard/testkit';
import { createUsageTotals, USAGE_DONE_TTL_SECONDS, usageJobKeys } from './usage-totals.js';

const DAY_MS = 86_400_000;
const T0 = Date.UTC(2026, 11, 7, 12);

function setup() {
  let t = T0;
  const store = createMemoryStore({ now: () => t });
  const keys = createKeyspace('t:');
  const totals = createUsageTotals({ store, retentionDays: 2, priceVersion: 'prices-1' });
  return { store, keys, totals, advance: (ms: number) => (t += ms) };
}

const JOB = { requestId: 'req_1', at: T0, keyId: 'key_1', model: 'claude-sonnet-4-6', nodeId: 'node-a' } as UsageJob;

function counters(set: Partial<UsageCounters>): UsageCounters {
  return { ...(Object.fromEntries(USAGE_COUNTER_FIELDS.map((f) => [f, 0])) as UsageCounters), ...set };
}

const RECENT = { requestId: 'req_1' } as RecentRequest;
const BLOCK = { key: 't:blk:o200k_base:' + 'a'.repeat(64), value: '12', ttlMs: 3_600_000 };

describe('usage totals', () => {
  it('adds one request to every figure it belongs to, once; a repeat writes only its block counts', async () => {
    const { store, keys, totals } = setup();
    const target = usageJobKeys(keys, JOB);
    const c = counters({ requests: 1, inputTokens: 120, outputTokens: 30 });
    await expect(totals.record(target, c, RECENT, [BLOCK])).resolves.toBe(true);
    await store.del(BLOCK.key);
    await expect(totals.record(target, c, RECENT, [BLOCK])).resolves.toBe(false);

    const added = { requests: '1', inputTokens: '120', outputTokens: '30' };
    for (const hash of [target.allTime, target.globalDay, target.month, ...target.scoped.map((s) => s.hash)]) {
      await expect(store.hgetall(hash)).resolves.toEqual(added);
    }
    for (const s of target.scoped) await expect(store.smembers(s.index)).resolves.toEqual([s.member]);
    expect(target.scoped.map((s) => s.member)).toEqual(['key_1', 'claude-sonnet-4-6', 'node-a']);
    await expect(store.smembers(target.priceVersions)).resolves.toEqual(['prices-1']);
    await expect(store.lrange(target.recent, 0, -1)).resolves.toEqual([JSON.stringify(RECENT)]);
    await expect(store.get(BLOCK.key)).resolves.toBe('12');
  });

  it("keeps a day's and a month's figures for the retention after their last write, the all-time ones for ever", async () => {
    const { store, keys, totals, advance } = setup();
    const target = usageJobKeys(keys, JOB);
    await totals.record(target, counters({ requests: 1 }), RECENT);
    advance(2 * DAY_MS - 1);
    await totals.record(usageJobKeys(keys, { ...JOB, requestId: 'req_2' }), counters({ requests: 1 }), RECENT);
    advance(2 * DAY_MS - 1);
    await expect(store.hgetall(target.globalDay)).resolves.toEqual({ requests: '2' });
    advance(1);
    for (const gone of [target.globalDay, target.month, ...target.scoped.map((s) => s.hash)]) {
      await expect(store.hgetall(gone)).resolves.toEqual({});
    }
    await expect(store.smembers(target.priceVersions)).resolves.toEqual([]);
    await expect(store.hgetall(target.allTime)).resolves.toEqual({ requests: '2' });
  });

  it('remembers a counted request for 30 days: a replay within them counts nothing', async () => {
    const { store, keys, totals, advance } = setup();
    const target = usageJobKeys(keys, JOB);
    await totals.record(target, counters({ requests: 1 }), RECENT);
    advance(USAGE_DONE_TTL_SECONDS * 1000 - 1);
    await expect(totals.record(target, counters({ requests: 1 }), RECENT)).resolves.toBe(false);
    advance(1);
    await expect(totals.record(target, counters({ requests: 1 }), RECENT)).resolves.toBe(true);
    await expect(store.hgetall(target.allTime)).resolves.toEqual({ requests: '2' });
  });

  it('refuses ids that cannot be part of a key before anything is written', () => {
    const { keys } = setup();
    expect(() => usageJobKeys(keys, { ...JOB, keyId: 'key with space' })).toThrow(RangeError);
    expect(() => usageJobKeys(keys, { ...JOB, nodeId: '' })).toThrow(RangeError);
  });
});
