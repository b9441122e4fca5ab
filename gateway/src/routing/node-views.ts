// Combining the nodes' reports with what this gateway instance learnt itself (pure functions).
import type { AccountState, NodeReport } from '@switchyard/shared';
import type { NodeView } from './types.js';

/** An account state learnt from a node's response, and the report it was learnt over. */
export interface Observation {
  state: AccountState;
  /** The heartbeatAt of the report the state was computed on. */
  baseHeartbeatAt: number;
  /** Epoch ms (gateway clock). */
  observedAt: number;
}

/** This instance's knowledge the reports do not carry. */
export interface LocalKnowledge {
  drained: ReadonlySet<string>;
  observations: ReadonlyMap<string, Observation>;
  /** Node id → epoch ms until which the node is in its unreachable cool-down. */
  unreachable: ReadonlyMap<string, number>;
}

const PINNED: ReadonlySet<string> = new Set(['needs_login', 'disabled', 'draining']);

function laterOf(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

function mergeFamilies(
  a: Record<string, number> | undefined,
  b: Record<string, number> | undefined,
): Record<string, number> | undefined {
  if (!a || !b) return a ?? b;
  const merged = { ...a };
  for (const [family, until] of Object.entries(b)) merged[family] = laterOf(merged[family], until) ?? until;
  return merged;
}

/**
 * A newer report over an observation it may not include yet: the node's word on what only it or a
 * person decides (needs_login, disabled, draining), the later of both on rate limits (limits only lapse
 * with time, so neither side can lift one early), and the response's fresher window figures.
 */
export function overlay(record: AccountState, learnt: AccountState): AccountState {
  if (PINNED.has(record.state)) return record;
  const next: AccountState = { ...record };
  if (learnt.fiveHour) next.fiveHour = learnt.fiveHour;
  if (learnt.sevenDay) next.sevenDay = learnt.sevenDay;
  if (learnt.state === 'limited') {
    next.state = 'limited';
    const until = laterOf(record.state === 'limited' ? record.limitedUntil : undefined, learnt.limitedUntil);
    if (until !== undefined) next.limitedUntil = until;
  }
  const families = mergeFamilies(record.limitedFamilies, learnt.limitedFamilies);
  if (families) next.limitedFamilies = families;
  return next;
}

/** The views routing reads: each record with this instance's drain flag, learnt state and cool-down. */
export function buildViews(records: readonly NodeReport[], local: LocalKnowledge, nowMs: number): NodeView[] {
  return records.map((record) => {
    const view: NodeView = { record, adminDrained: local.drained.has(record.nodeId) };
    const observed = local.observations.get(record.nodeId);
    if (observed) {
      view.localState =
        observed.baseHeartbeatAt === record.heartbeatAt ? observed.state : overlay(record.state, observed.state);
    }
    const until = local.unreachable.get(record.nodeId);
    if (until !== undefined && until > nowMs) view.unreachableUntil = until;
    return view;
  });
}

/**
 * Forgets what the reports have made moot: nodes that left, lapsed cool-downs, and observations a
 * newer report covers. A report covers an observation once it is newer than the one the observation
 * was made over AND graceMs have passed since, because a report already on its way when the response
 * arrived would not show it.
 */
export function forgetCovered(
  records: readonly NodeReport[],
  observations: Map<string, Observation>,
  unreachable: Map<string, number>,
  nowMs: number,
  graceMs: number,
): void {
  const byId = new Map(records.map((r) => [r.nodeId, r]));
  for (const [nodeId, observed] of observations) {
    const record = byId.get(nodeId);
    const covered =
      record !== undefined && record.heartbeatAt > observed.baseHeartbeatAt && nowMs - observed.observedAt >= graceMs;
    if (record === undefined || covered) observations.delete(nodeId);
  }
  for (const [nodeId, until] of unreachable) if (until <= nowMs || !byId.has(nodeId)) unreachable.delete(nodeId);
}
