// One node's foresight: its account's 5-hour and 7-day windows, each from its history (pure functions).
import type { AccountState } from '@switchyard/shared';
import {
  DEFAULT_HISTORY_OPTIONS,
  predictWindow,
  recordReading,
  type HistoryOptions,
  type WindowForesight,
  type WindowHistory,
} from './window-history.js';

/** The windows a subscription account reports, by the name the account state gives them. */
export const WINDOWS = ['fiveHour', 'sevenDay'] as const;
export type WindowName = (typeof WINDOWS)[number];

/** A node's windows' histories. */
export type NodeHistory = Partial<Record<WindowName, WindowHistory>>;

/**
 * When a node's account is predicted to run out. Only subscription (OAuth) accounts have these windows: an
 * API-key account's node has no foresight at all (null in its summary).
 */
export interface NodeForesight {
  /** The 5-hour window, once the account has reported its utilization. */
  fiveHour?: WindowForesight;
  /** The 7-day window, once the account has reported its utilization. */
  sevenDay?: WindowForesight;
  /** The earliest of the windows' exhaustsAt (epoch ms); null: every window lasts until its reset. */
  exhaustsAt: number | null;
  /** Epoch ms (the gateway's clock) the prediction was made at: burns are measured up to it. */
  at: number;
}

/** Adds the account's current figures to the node's histories (returns the histories to keep). */
export function recordAccount(
  history: NodeHistory,
  account: AccountState,
  nowMs: number,
  opts: HistoryOptions = DEFAULT_HISTORY_OPTIONS,
): NodeHistory {
  const next: NodeHistory = {};
  for (const name of WINDOWS) {
    const figures = account[name];
    const kept = figures === undefined ? history[name] : recordReading(history[name], figures, nowMs, opts);
    if (kept !== undefined) next[name] = kept;
  }
  return next;
}

/** The node's prediction as of nowMs, from its histories and the account's current figures. */
export function predictAccount(
  history: NodeHistory,
  account: AccountState,
  nowMs: number,
  opts: HistoryOptions = DEFAULT_HISTORY_OPTIONS,
): NodeForesight {
  const foresight: NodeForesight = { exhaustsAt: null, at: nowMs };
  for (const name of WINDOWS) {
    const figures = account[name];
    if (figures?.utilization === undefined) continue;
    const window = predictWindow(
      history[name],
      { utilization: figures.utilization, ...(figures.resetAt === undefined ? {} : { resetAt: figures.resetAt }) },
      nowMs,
      opts,
    );
    foresight[name] = window;
    if (window.exhaustsAt !== null && (foresight.exhaustsAt === null || window.exhaustsAt < foresight.exhaustsAt))
      foresight.exhaustsAt = window.exhaustsAt;
  }
  return foresight;
}
