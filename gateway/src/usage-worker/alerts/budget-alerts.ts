// Budget thresholds: after a request of a key with budgets was counted, the key's day (and month) totals are
// read and each of 50 / 80 / 100 % reached raises budget_threshold. The alert id carries the key, the budget,
// the period and the threshold, so however many requests (and worker processes) see a threshold crossed, it is
// one alert per period; this process also remembers what it raised, so it does not queue the same id again.
import { LRUCache } from 'lru-cache';
import {
  budgetTokens,
  EXACT_TOKEN_FIELDS,
  utcDay,
  utcMonth,
  type AlertSink,
  type HashStore,
  type Keyspace,
  type KeyValueStore,
  type Logger,
  type UsageJob,
} from '@switchyard/shared';
import { alertIds, BUDGET_THRESHOLDS, type BudgetKind, type BudgetThreshold } from '../../alerts/alert-ids.js';

/** A key's budgets as its record holds them: only the fields read here, each null when unset or absent. */
export interface KeyBudgets {
  name: string;
  dailyTokenBudget: number | null;
  dailyUsdBudget: number | null;
  monthlyUsdBudget: number | null;
}

export interface BudgetAlertsDeps {
  store: Pick<KeyValueStore, 'get'> & Pick<HashStore, 'hgetall'>;
  keys: Pick<Keyspace, 'keyById' | 'usage' | 'usageMonth'>;
  sink: AlertSink;
  log: Logger;
  /** Epoch ms. Default Date.now. */
  now?: () => number;
  /** How long a key record is reused before it is read again (a budget an admin changed applies after it). Default 1 s. */
  recordTtlMs?: number;
}

export interface BudgetAlerts {
  /** Looks at the key's totals after one of its requests was counted; never throws (a failed read is logged). */
  check(job: Pick<UsageJob, 'keyId' | 'at'>): Promise<void>;
}

const FIELDS = [...EXACT_TOKEN_FIELDS, 'chargedTokens', 'costMicros'] as const;

function positive(v: unknown): number | null {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : null;
}

/** The budgets of a stored key record; tolerant of records written before the USD budgets existed. */
export function readBudgets(raw: string | null): KeyBudgets | null {
  if (raw === null) return null;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof json !== 'object' || json === null) return null;
  const r = json as Record<string, unknown>;
  return {
    name: typeof r.name === 'string' ? r.name : '',
    dailyTokenBudget: positive(r.dailyTokenBudget),
    dailyUsdBudget: positive(r.dailyUsdBudget),
    monthlyUsdBudget: positive(r.monthlyUsdBudget),
  };
}

interface Totals {
  tokens: number;
  costMicros: number;
}

function totalsOf(hash: Record<string, string>): Totals {
  const n = new Map<string, number>(FIELDS.map((f) => [f, Number(hash[f] ?? 0) || 0]));
  return { tokens: budgetTokens((field) => n.get(field) ?? 0), costMicros: n.get('costMicros') ?? 0 };
}

const LABELS: Record<BudgetKind, string> = {
  daily_tokens: 'daily token budget',
  daily_usd: 'daily USD budget',
  monthly_usd: 'monthly USD budget',
};

/** What one budget stands at: the figures compared (tokens, or micro-dollars for USD budgets). */
interface Standing {
  kind: BudgetKind;
  period: string;
  used: number;
  limit: number;
  /** The budget as the record holds it (tokens or USD). */
  budget: number;
}

/** The thresholds a budget has reached. */
export function reachedThresholds(used: number, limit: number): BudgetThreshold[] {
  return BUDGET_THRESHOLDS.filter((t) => used * 100 >= t * limit);
}

/**
 * @example
 * const budgets = createBudgetAlerts({ store, keys, sink: alerts, log });
 * createUsageHandler({ …, onCounted: (job) => void budgets.check(job) });
 */
export function createBudgetAlerts(deps: BudgetAlertsDeps): BudgetAlerts {
  return new ThresholdBudgetAlerts(deps);
}

class ThresholdBudgetAlerts implements BudgetAlerts {
  readonly #store: BudgetAlertsDeps['store'];
  readonly #keys: BudgetAlertsDeps['keys'];
  readonly #sink: AlertSink;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #records: LRUCache<string, KeyBudgets | 'none'>;
  readonly #raised = new LRUCache<string, true>({ max: 10_000 });

  constructor(deps: BudgetAlertsDeps) {
    this.#store = deps.store;
    this.#keys = deps.keys;
    this.#sink = deps.sink;
    this.#log = deps.log;
    this.#now = deps.now ?? Date.now;
    this.#records = new LRUCache<string, KeyBudgets | 'none'>({ max: 10_000, ttl: deps.recordTtlMs ?? 1_000 });
  }

  async check(job: Pick<UsageJob, 'keyId' | 'at'>): Promise<void> {
    try {
      const budgets = await this.#budgetsOf(job.keyId);
      if (budgets === null) return;
      for (const s of await this.#standings(job.keyId, budgets, job.at)) {
        for (const threshold of reachedThresholds(s.used, s.limit)) this.#raise(job.keyId, budgets, s, threshold);
      }
    } catch (err) {
      // Redis away: the next request of the key looks again (its totals only grow).
      this.#log.warn('budget thresholds not checked', {
        keyId: job.keyId,
        reason: err instanceof Error ? err.message : String(err),
      });
    }
  }

  async #budgetsOf(keyId: string): Promise<KeyBudgets | null> {
    const cached = this.#records.get(keyId);
    if (cached !== undefined) return cached === 'none' ? null : cached;
    const budgets = readBudgets(await this.#store.get(this.#keys.keyById(keyId)));
    this.#records.set(keyId, budgets ?? 'none');
    return budgets;
  }

  async #standings(keyId: string, budgets: KeyBudgets, at: number): Promise<Standing[]> {
    const out: Standing[] = [];
    const day = utcDay(at);
    if (budgets.dailyTokenBudget !== null || budgets.dailyUsdBudget !== null) {
      const t = totalsOf(await this.#store.hgetall(this.#keys.usage('key', keyId, day)));
      addDailyStandings(out, budgets, day, t);
    }
    if (budgets.monthlyUsdBudget !== null) {
      const month = utcMonth(at);
      const t = totalsOf(await this.#store.hgetall(this.#keys.usageMonth(keyId, month)));
      out.push(usdStanding('monthly_usd', month, t, budgets.monthlyUsdBudget));
    }
    return out;
  }

  #raise(keyId: string, budgets: KeyBudgets, s: Standing, threshold: BudgetThreshold): void {
    const id = alertIds.budgetThreshold(keyId, s.kind, s.period, threshold);
    if (this.#raised.has(id)) return;
    this.#raised.set(id, true);
    const usd = s.kind !== 'daily_tokens';
    const used = usd ? s.used / 1e6 : s.used;
    const who = budgets.name === '' ? keyId : `${budgets.name} (${keyId})`;
    this.#sink.emit({
      id,
      type: 'budget_threshold',
      at: this.#now(),
      keyId,
      message: `Key ${who} reached ${threshold} % of its ${LABELS[s.kind]} for ${s.period}: ${usd ? `$${used.toFixed(2)} of $${s.budget}` : `${used} of ${s.budget} tokens`}.`,
      data: { budget: s.kind, period: s.period, threshold, used, limit: s.budget, unit: usd ? 'usd' : 'tokens' },
    });
  }
}

/** The day's standings, one per daily budget the key has, from the day's totals. */
function addDailyStandings(out: Standing[], budgets: KeyBudgets, day: string, t: Totals): void {
  if (budgets.dailyTokenBudget !== null)
    out.push({
      kind: 'daily_tokens',
      period: day,
      used: t.tokens,
      limit: budgets.dailyTokenBudget,
      budget: budgets.dailyTokenBudget,
    });
  if (budgets.dailyUsdBudget !== null) out.push(usdStanding('daily_usd', day, t, budgets.dailyUsdBudget));
}

/** A USD budget is compared in micro-dollars, as the totals count cost. */
function usdStanding(kind: 'daily_usd' | 'monthly_usd', period: string, t: Totals, budget: number): Standing {
  return { kind, period, used: t.costMicros, limit: Math.round(budget * 1e6), budget };
}
