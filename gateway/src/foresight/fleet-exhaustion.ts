// Whether the whole fleet is predicted to run out before its accounts' windows reset (a pure function), and the
// one alert that says so.
import { effectiveState, type AccountState, type AlertEvent } from '@switchyard/shared';
import { alertIds } from '../alerts/alert-ids.js';
import { WINDOWS, type NodeForesight } from './node-foresight.js';

/** One node as the fleet check sees it. */
export interface FleetMember {
  nodeId: string;
  account: AccountState;
  /** An operator drained it: it serves nothing, so it cannot save the fleet. */
  adminDrained: boolean;
  /** Null for an API-key account (no windows: it is never predicted to run out). */
  foresight: NodeForesight | null;
}

/** When a serving node is out, and when it is back. */
interface Outlook {
  outAt: number;
  /** Undefined when no reset time is known. */
  backAt: number | undefined;
}

// Only people (or a login) bring these back: they are not part of the fleet that serves.
const OUT_OF_ROTATION: ReadonlySet<string> = new Set(['needs_login', 'disabled', 'draining']);

/** When a serving node is (or will be) out before a reset; undefined when it is predicted to last. */
function outlookOf(member: FleetMember, nowMs: number): Outlook | undefined {
  if (effectiveState(member.account, nowMs) === 'limited') return { outAt: nowMs, backAt: member.account.limitedUntil };
  const foresight = member.foresight;
  if (foresight === null || foresight.exhaustsAt === null) return undefined;
  // Back once every window that runs out has reset.
  const resets = WINDOWS.map((name) => foresight[name]).flatMap((w) =>
    w !== undefined && w.exhaustsAt !== null && w.resetAt !== null ? [w.resetAt] : [],
  );
  return { outAt: foresight.exhaustsAt, backAt: resets.length === 0 ? undefined : Math.max(...resets) };
}

const iso = (ms: number): string => new Date(ms).toISOString();

/**
 * The `fleet_exhaustion` alert when every node that can serve (not needing a login, disabled, draining or drained
 * by an admin) is already limited or predicted to run out before its next reset; undefined otherwise, and with no
 * node to serve (that is no prediction). Its id names the earliest reset (`fleet_exhaustion:{epoch ms}`), so every
 * gateway raising it during one reset period raises the same alert.
 * @example const alert = fleetExhaustion(members, Date.now()); if (alert) alerts.emit(alert);
 */
export function fleetExhaustion(members: readonly FleetMember[], nowMs: number): AlertEvent | undefined {
  const serving = members.filter((m) => !m.adminDrained && !OUT_OF_ROTATION.has(effectiveState(m.account, nowMs)));
  if (serving.length === 0) return undefined;
  const outlooks: Outlook[] = [];
  for (const member of serving) {
    const outlook = outlookOf(member, nowMs);
    if (outlook === undefined) return undefined;
    outlooks.push(outlook);
  }
  const fleetOutAt = Math.max(...outlooks.map((o) => o.outAt));
  const resets = outlooks.flatMap((o) => (o.backAt === undefined ? [] : [o.backAt]));
  const earliestReset = resets.length === 0 ? undefined : Math.min(...resets);
  // Out one after another is not out together: a node whose window resets before the last one runs out serves again.
  if (earliestReset !== undefined && earliestReset <= fleetOutAt) return undefined;
  const limited = serving.filter((m) => effectiveState(m.account, nowMs) === 'limited').length;
  const when = fleetOutAt <= nowMs ? 'now' : `at ${iso(fleetOutAt)}`;
  const back =
    earliestReset === undefined ? 'no reset time is known' : `the earliest reset is at ${iso(earliestReset)}`;
  return {
    // With no reset known, the hour it runs out names the event instead.
    id:
      earliestReset === undefined
        ? `fleet_exhaustion:out-hour-${Math.floor(fleetOutAt / 3_600_000)}`
        : alertIds.fleetExhaustion(earliestReset),
    type: 'fleet_exhaustion',
    at: nowMs,
    message: `Every serving node (${serving.length}) is limited or predicted to run out of its usage window before it resets: the fleet runs out ${when}; ${back}.`,
    data: {
      servingNodes: serving.length,
      limitedNodes: limited,
      fleetExhaustsAt: fleetOutAt,
      earliestResetAt: earliestReset ?? null,
    },
  };
}
