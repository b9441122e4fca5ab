// The gateway's budget alert: reservations keep a key's counted spend below 100 % of its budget (docs/BUDGETS.md),
// so the worker's 100 % threshold may never be crossed while the key is already refused. The first refusal of a
// key for a budget its counted spend leaves too little of raises `budget_threshold` (refused) once per period.
import { LRUCache } from 'lru-cache';
import { utcDay, utcMonth, type AlertEvent, type AlertSink } from '@switchyard/shared';
import type { BudgetRefusal } from '../limits/index.js';
import { alertIds } from './alert-ids.js';

/** Ids this process raised lately: a refused key is refused again and again, and the sink needs it once. */
const RAISED_KEPT = 10_000;

function figure(kind: BudgetRefusal['budget']['kind'], n: number): string {
  return kind === 'daily_tokens'
    ? `${Math.round(n).toLocaleString('en-US')} tokens`
    : `$${(n / 1_000_000).toFixed(6).replace(/\.?0+$/, '')}`;
}

/** The alert of one refusal. */
export function budgetRefusalAlert(r: BudgetRefusal): AlertEvent {
  const { kind, limit, spent, reserved } = r.budget;
  const period = kind === 'monthly_usd' ? utcMonth(r.nowMs) : utcDay(r.nowMs);
  const name =
    kind === 'daily_tokens' ? 'daily token budget' : kind === 'daily_usd' ? 'daily USD budget' : 'monthly USD budget';
  return {
    id: alertIds.budgetRefused(r.keyId, kind, period),
    type: 'budget_threshold',
    at: r.nowMs,
    keyId: r.keyId,
    message: `Key ${r.keyId} is refusing requests: its ${name} of ${figure(kind, limit)} has ${figure(kind, Math.max(0, limit - spent))} left after ${figure(kind, spent)} counted, less than a request may cost (${figure(kind, r.asked)}); it resets with the ${kind === 'monthly_usd' ? 'month' : 'UTC day'}.`,
    data: { budget: kind, period, threshold: 100, refused: true, limit, spent, reserved, asked: r.asked },
  };
}

/**
 * @example
 * const limiter = createKeyLimiter({ store, keys, log, onBudgetRefused: budgetRefusalAlerts(alerts) });
 */
export function budgetRefusalAlerts(sink: AlertSink): (refusal: BudgetRefusal) => void {
  const raised = new LRUCache<string, true>({ max: RAISED_KEPT });
  return (refusal) => {
    const alert = budgetRefusalAlert(refusal);
    if (raised.has(alert.id)) return;
    raised.set(alert.id, true);
    sink.emit(alert);
  };
}
