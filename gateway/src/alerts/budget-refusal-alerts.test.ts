import type { AlertEvent } from '@switchyard/shared';
import { budgetRefusalAlerts } from './budget-refusal-alerts.js';

const T0 = Date.UTC(2030, 0, 15, 12);

function recorder(): { emitted: AlertEvent[]; emit(e: AlertEvent): void } {
  const emitted: AlertEvent[] = [];
  return { emitted, emit: (e) => void emitted.push(e) };
}

describe('budgetRefusalAlerts', () => {
  it('raises one budget_threshold alert per key, budget and period however often the key is refused', () => {
    const sink = recorder();
    const raise = budgetRefusalAlerts(sink);
    const daily = { kind: 'daily_usd' as const, limit: 20_000, spent: 18_201, reserved: 0 };
    for (let i = 0; i < 5; i++) raise({ keyId: 'key-1', budget: daily, asked: 3_400, nowMs: T0 + i });
    raise({ keyId: 'key-1', budget: daily, asked: 3_400, nowMs: T0 + 86_400_000 }); // the next day
    raise({
      keyId: 'key-1',
      budget: { kind: 'monthly_usd', limit: 50_000, spent: 49_000, reserved: 0 },
      asked: 3_400,
      nowMs: T0,
    });
    raise({ keyId: 'key-2', budget: daily, asked: 3_400, nowMs: T0 });
    expect(sink.emitted.map((e) => e.id)).toEqual([
      'budget_threshold:key-1:daily_usd:2030-01-15:refused',
      'budget_threshold:key-1:daily_usd:2030-01-16:refused',
      'budget_threshold:key-1:monthly_usd:2030-01:refused',
      'budget_threshold:key-2:daily_usd:2030-01-15:refused',
    ]);
    const first = sink.emitted[0]!;
    expect(first).toMatchObject({
      type: 'budget_threshold',
      keyId: 'key-1',
      data: { budget: 'daily_usd', threshold: 100, refused: true, limit: 20_000, spent: 18_201, asked: 3_400 },
    });
    expect(first.message).toContain('$0.02');
    expect(first.message).toContain('$0.001799 left');
  });

  it('names tokens for the token budget', () => {
    const sink = recorder();
    budgetRefusalAlerts(sink)({
      keyId: 'key-1',
      budget: { kind: 'daily_tokens', limit: 2_000, spent: 1_691, reserved: 0 },
      asked: 350,
      nowMs: T0,
    });
    expect(sink.emitted[0]?.message).toContain('daily token budget of 2,000 tokens has 309 tokens left');
  });
});
