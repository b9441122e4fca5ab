// Alert ids are built from what an event is about, never at random: the same event raised by several gateway
// replicas, by a retried job or twice by one process is one alert (the dispatcher records an id once, and
// receivers drop a repeated `webhook-id`). docs/ALERTS.md lists them.
import { createHash } from 'node:crypto';
import type { AlertType } from '@switchyard/shared';

/** Which budget of a key a threshold is about. */
export type BudgetKind = 'daily_tokens' | 'daily_usd' | 'monthly_usd';

/** The percentages of a budget that raise an alert, once each per period. */
export const BUDGET_THRESHOLDS = [50, 80, 100] as const;
export type BudgetThreshold = (typeof BUDGET_THRESHOLDS)[number];

const SAFE_PART_RE = /^[A-Za-z0-9_.@-]{1,64}$/;

/** One part of an id: kept as it is when it is safe, else a digest (so an odd node or key id can never break the id's shape). */
function part(value: string | number): string {
  const s = String(value);
  return SAFE_PART_RE.test(s) ? s : `h${createHash('sha256').update(s).digest('hex').slice(0, 16)}`;
}

function idOf(type: AlertType, ...parts: (string | number)[]): string {
  return [type, ...parts.map(part)].join(':');
}

/**
 * @example
 * sink.emit({ id: alertIds.accountLimited('node-a', limitedUntil), type: 'account_limited', … });
 */
export const alertIds = {
  /** `period`: the UTC day (YYYY-MM-DD) of a daily budget, the UTC month (YYYY-MM) of a monthly one. */
  budgetThreshold: (keyId: string, budget: BudgetKind, period: string, threshold: BudgetThreshold) =>
    idOf('budget_threshold', keyId, budget, period, threshold),
  /** `since`: when the account's state became needs_login (its AccountState.updatedAt). */
  accountNeedsLogin: (nodeId: string, since: number) => idOf('account_needs_login', nodeId, since),
  accountLimited: (nodeId: string, limitedUntil: number) => idOf('account_limited', nodeId, limitedUntil),
  /** `lastHeartbeatAt`: the heartbeat of the node's last report before it left. */
  nodeLost: (nodeId: string, lastHeartbeatAt: number) => idOf('node_lost', nodeId, lastHeartbeatAt),
  /** A key refused because its counted spend leaves too little of the budget (the gateway's; once per period). */
  budgetRefused: (keyId: string, budget: BudgetKind, period: string) =>
    idOf('budget_threshold', keyId, budget, period, 'refused'),
  usageJobFailed: (requestId: string) => idOf('usage_job_failed', requestId),
  /** `resetAt`: the earliest reset of the serving nodes' windows (one alert per reset period, whichever window). */
  fleetExhaustion: (resetAt: number) => idOf('fleet_exhaustion', resetAt),
};

/**
 * The BullMQ job id of an alert: BullMQ refuses custom ids with ':' in them, and alert ids have no '|', so
 * this is one to one.
 */
export function alertJobId(alertId: string): string {
  return alertId.replaceAll(':', '|');
}

/** A short digest of a webhook URL: names it in job ids and log lines without showing it (a URL may carry a secret). */
export function urlDigest(url: string): string {
  return createHash('sha256').update(url).digest('hex').slice(0, 12);
}

/** The job id of one alert's delivery to one URL. */
export function deliveryJobId(alertId: string, url: string): string {
  return `${alertJobId(alertId)}|${urlDigest(url)}`;
}
