// Rate-limit response headers: unified windows for subscription accounts, classic limits for API keys (docs/ANTHROPIC.md §4).

/** One usage window of a subscription account. */
export interface WindowState {
  /** Fraction of the limit used; 1.0 and above is rejected. */
  utilization: number;
  /** Unix seconds. */
  resetsAt: number;
}

/** Window statuses as the unified headers spell them. */
export type WindowStatus = 'allowed' | 'allowed_warning' | 'rejected';

const WARNING_AT = 0.8;
const PREFIX = 'anthropic-ratelimit-unified';

/** The status a window reports at the given utilization. */
export function windowStatus(utilization: number): WindowStatus {
  if (utilization >= 1) return 'rejected';
  return utilization >= WARNING_AT ? 'allowed_warning' : 'allowed';
}

/** Header abbreviation of a window claim: five_hour → 5h, seven_day → 7d, seven_day_opus → 7d_opus. */
export function windowAbbreviation(claim: string): string {
  if (claim === 'five_hour') return '5h';
  if (claim.startsWith('seven_day')) return `7d${claim.slice('seven_day'.length)}`;
  return claim;
}

function worst(statuses: WindowStatus[]): WindowStatus {
  if (statuses.includes('rejected')) return 'rejected';
  return statuses.includes('allowed_warning') ? 'allowed_warning' : 'allowed';
}

/**
 * Unified headers for a set of windows keyed by claim (five_hour, seven_day, …).
 * The representative claim is the given one, else the most used window.
 */
export function unifiedHeaders(
  windows: Record<string, WindowState>,
  representativeClaim?: string,
): Record<string, string> {
  const headers: Record<string, string> = {};
  let representative: string | undefined;
  let highest = -1;
  const statuses: WindowStatus[] = [];
  for (const [claim, state] of Object.entries(windows)) {
    const status = windowStatus(state.utilization);
    const abbr = windowAbbreviation(claim);
    headers[`${PREFIX}-${abbr}-status`] = status;
    headers[`${PREFIX}-${abbr}-reset`] = String(state.resetsAt);
    headers[`${PREFIX}-${abbr}-utilization`] = formatFraction(state.utilization);
    statuses.push(status);
    if (state.utilization > highest) {
      highest = state.utilization;
      representative = claim;
    }
  }
  const claim = representativeClaim ?? representative ?? 'five_hour';
  headers[`${PREFIX}-status`] = worst(statuses);
  headers[`${PREFIX}-reset`] = String(windows[claim]?.resetsAt ?? 0);
  headers[`${PREFIX}-representative-claim`] = claim;
  headers[`${PREFIX}-fallback-percentage`] = '0.5';
  headers[`${PREFIX}-overage-status`] = 'rejected';
  headers[`${PREFIX}-overage-disabled-reason`] = 'org_level_disabled';
  return headers;
}

function formatFraction(value: number): string {
  return String(Math.round(value * 100) / 100);
}

/** Classic per-minute limits of an API-key account; `exhausted` reports zero remaining. */
export function apiKeyHeaders(requestsThisMinute: number, nowMs: number, exhausted = false): Record<string, string> {
  const reset = new Date(Math.ceil((nowMs + 1) / 60_000) * 60_000).toISOString();
  const limits: Record<string, number> = {
    requests: 4000,
    tokens: 2_000_000,
    'input-tokens': 2_000_000,
    'output-tokens': 400_000,
  };
  const headers: Record<string, string> = {};
  for (const [name, limit] of Object.entries(limits)) {
    const used = name === 'requests' ? requestsThisMinute : 0;
    headers[`anthropic-ratelimit-${name}-limit`] = String(limit);
    headers[`anthropic-ratelimit-${name}-remaining`] = String(exhausted ? 0 : Math.max(0, limit - used));
    headers[`anthropic-ratelimit-${name}-reset`] = reset;
  }
  return headers;
}
