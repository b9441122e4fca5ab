// The budget half of admission: a key's spend as last read plus what requests in flight (here and on the other
// gateways) have reserved, against its daily token, daily USD and monthly USD budgets. Pure functions over a
// KeyState, so admit() and reserve() stay synchronous. docs/BUDGETS.md explains the bound this buys.
import { AppError } from '@switchyard/shared';
import { usdToMicros } from '../keys/index.js';
import { dayIndexOf, monthIndexOf, secondsToNextUtcDay, secondsToNextUtcMonth, type KeyState } from './limit-state.js';

/** What one request asks to hold: the most it can cost and the most tokens it can use. */
export interface ReservationAsk {
  micros: number;
  tokens: number;
}

/** One budget's figures: the limit, what is counted, what requests in flight hold (all in the budget's unit). */
export interface BudgetFigures {
  kind: 'daily_tokens' | 'daily_usd' | 'monthly_usd';
  limit: number;
  spent: number;
  reserved: number;
}

/** Whole and fractional dollars, 2 to 6 decimals: $5.00, $0.0125, $0.000003. */
export function formatUsd(micros: number): string {
  const whole = Math.max(0, Math.round(micros));
  if (whole % 10_000 === 0) return `$${(whole / 1_000_000).toFixed(2)}`;
  return `$${(whole / 1_000_000).toFixed(6).replace(/0+$/, '')}`;
}

/** Tokens with thousands separators. */
function formatTokens(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** This instance's reservations plus the other instances' (as last read, while not stale). */
export function reservedTotal(state: KeyState, nowMs: number, staleMs: number): ReservationAsk {
  const remote =
    state.remoteReserved !== undefined && nowMs - state.remoteReserved.atMs <= staleMs
      ? state.remoteReserved
      : undefined;
  return {
    micros: state.reserved.micros + (remote?.micros ?? 0),
    tokens: state.reserved.tokens + (remote?.tokens ?? 0),
  };
}

function budgetsOf(state: KeyState, nowMs: number, staleMs: number): BudgetFigures[] {
  const { dailyTokenBudget, dailyUsdBudget, monthlyUsdBudget } = state.limits;
  const reserved = reservedTotal(state, nowMs, staleMs);
  const today = state.budget !== undefined && state.budget.dayIndex === dayIndexOf(nowMs) ? state.budget : undefined;
  const figures: BudgetFigures[] = [];
  // Longest wait first: a refused client should hear about the budget that keeps it out longest.
  if (monthlyUsdBudget !== null) {
    const month =
      state.monthSpend !== undefined && state.monthSpend.monthIndex === monthIndexOf(nowMs)
        ? state.monthSpend.micros
        : 0;
    figures.push({
      kind: 'monthly_usd',
      limit: usdToMicros(monthlyUsdBudget),
      spent: month,
      reserved: reserved.micros,
    });
  }
  if (dailyUsdBudget !== null)
    figures.push({
      kind: 'daily_usd',
      limit: usdToMicros(dailyUsdBudget),
      spent: today?.micros ?? 0,
      reserved: reserved.micros,
    });
  if (dailyTokenBudget !== null)
    figures.push({ kind: 'daily_tokens', limit: dailyTokenBudget, spent: today?.used ?? 0, reserved: reserved.tokens });
  return figures;
}

function wording(b: BudgetFigures): { name: string; spent: string; reserved: string; reset: string } {
  if (b.kind === 'daily_tokens') {
    return {
      name: `daily budget of ${formatTokens(b.limit)} tokens`,
      spent: `${formatTokens(b.spent)} tokens`,
      reserved: `${formatTokens(b.reserved)}`,
      reset: 'at 00:00 UTC',
    };
  }
  const name = `${b.kind === 'daily_usd' ? 'daily' : 'monthly'} USD budget of ${formatUsd(b.limit)}`;
  return {
    name,
    spent: formatUsd(b.spent),
    reserved: formatUsd(b.reserved),
    reset: b.kind === 'daily_usd' ? 'at 00:00 UTC' : 'on the 1st of next month, 00:00 UTC',
  };
}

/** How long a client held back by requests in flight should wait: about two sync rounds, when they are counted. */
export const HELD_RETRY_AFTER_SEC = 2;

function retryAfter(b: BudgetFigures, nowMs: number): number {
  return b.kind === 'monthly_usd' ? secondsToNextUtcMonth(nowMs) : secondsToNextUtcDay(nowMs);
}

/**
 * The end of a refusal's message and its retry-after: when what is counted leaves room for `asked` and only what
 * requests in flight hold fills it, the room comes back as they are counted (seconds), not at the reset.
 */
function whenAgain(
  b: BudgetFigures,
  asked: number,
  nowMs: number,
  reset: string,
): { text: string; retryAfterSec: number } {
  if (b.reserved > 0 && b.spent + asked <= b.limit) {
    return {
      text: `it may fit once the requests in flight are counted: retry in a few seconds (the budget resets ${reset})`,
      retryAfterSec: HELD_RETRY_AFTER_SEC,
    };
  }
  return { text: `it resets ${reset}`, retryAfterSec: retryAfter(b, nowMs) };
}

/**
 * Before the body is read: refused when what is counted plus what requests in flight hold already reaches a
 * budget. 429 budget_exhausted naming the budget, the figures and the reset, retry-after until the reset.
 */
export function budgetRefusal(state: KeyState, nowMs: number, staleMs: number): AppError | undefined {
  for (const b of budgetsOf(state, nowMs, staleMs)) {
    if (b.spent + b.reserved < b.limit) continue;
    const d = wording(b);
    // Before the parse the request's own size is unknown: room for anything at all is what counts here.
    const again = whenAgain(b, 1, nowMs, d.reset);
    return new AppError(
      'budget_exhausted',
      `This API key has used its ${d.name} (${d.spent} counted, ${d.reserved} held by requests in flight); ${again.text}.`,
      { retryAfterSec: again.retryAfterSec },
    );
  }
  return undefined;
}

/** A reservation refused: the 429 to send, the budget's figures, what the request asked, and whether only held reservations stood in its way. */
export interface ReservationRefusal {
  error: AppError;
  budget: BudgetFigures;
  asked: number;
  /** What is counted leaves room for it: it may fit once the requests in flight are counted. */
  heldOnly: boolean;
}

/**
 * After the parse: refused when the request's reservation on top of what is counted and held would pass a
 * budget. The message says what the request may cost, so a client can see a max_tokens that can never fit.
 */
export function reservationRefusal(
  state: KeyState,
  ask: ReservationAsk,
  nowMs: number,
  staleMs: number,
): ReservationRefusal | undefined {
  for (const b of budgetsOf(state, nowMs, staleMs)) {
    const asked = b.kind === 'daily_tokens' ? ask.tokens : ask.micros;
    if (b.spent + b.reserved + asked <= b.limit) continue;
    const d = wording(b);
    const cost = b.kind === 'daily_tokens' ? `${formatTokens(asked)} tokens` : formatUsd(asked);
    const left = Math.max(0, b.limit - b.spent - b.reserved);
    const leftText = b.kind === 'daily_tokens' ? `${formatTokens(left)} tokens` : formatUsd(left);
    const again = whenAgain(b, asked, nowMs, d.reset);
    const error = new AppError(
      'budget_exhausted',
      `This request may use up to ${cost} (its body and max_tokens), more than the ${leftText} left of this API key's ${d.name} (${d.spent} counted, ${d.reserved} held by requests in flight); ${again.text}.`,
      { retryAfterSec: again.retryAfterSec },
    );
    return { error, budget: b, asked, heldOnly: again.retryAfterSec === HELD_RETRY_AFTER_SEC };
  }
  return undefined;
}
