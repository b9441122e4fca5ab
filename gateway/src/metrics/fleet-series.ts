// What /metrics shows per node, read from the registry snapshot at scrape time (pure).
import { effectiveState } from '@switchyard/shared';
import { availabilityOf, stateOf, type NodeAvailability, type NodeView } from '../routing/index.js';

/** Every state a node gauge is exported for (one series per node and state, 1 for the current one). */
export const NODE_STATES: readonly NodeAvailability[] = [
  'available',
  'limited',
  'needs_login',
  'disabled',
  'draining',
  'admin_drained',
  'unreachable',
];

/** One unified window's figures as exported. */
export interface WindowSeries {
  window: '5h' | '7d';
  utilization?: number;
  /** Unix seconds. */
  resetsAt?: number;
}

/** One node's figures for the gauges. */
export interface NodeSeries {
  nodeId: string;
  state: NodeAvailability;
  /** Unix seconds, while the whole account is limited. */
  limitedUntil?: number;
  /** Model families limited on their own, until (Unix seconds). */
  families: { family: string; until: number }[];
  windows: WindowSeries[];
}

const seconds = (ms: number): number => Math.round(ms / 1000);

/**
 * The gauges' view of the fleet at `nowMs`: each node's availability (as routing sees it), the limits
 * still running, and its 5h/7d utilization and reset times.
 */
export function fleetSeries(nodes: readonly NodeView[], nowMs: number): NodeSeries[] {
  return nodes.map((node) => {
    const account = stateOf(node);
    const series: NodeSeries = {
      nodeId: node.record.nodeId,
      state: availabilityOf(node, nowMs, undefined),
      families: [],
      windows: [],
    };
    if (effectiveState(account, nowMs) === 'limited' && account.limitedUntil !== undefined)
      series.limitedUntil = seconds(account.limitedUntil);
    for (const [family, until] of Object.entries(account.limitedFamilies ?? {})) {
      if (until > nowMs) series.families.push({ family, until: seconds(until) });
    }
    for (const [window, figures] of [
      ['5h', account.fiveHour],
      ['7d', account.sevenDay],
    ] as const) {
      if (figures === undefined) continue;
      const w: WindowSeries = { window };
      if (figures.utilization !== undefined) w.utilization = figures.utilization;
      if (figures.resetAt !== undefined) w.resetsAt = seconds(figures.resetAt);
      series.windows.push(w);
    }
    return series;
  });
}
