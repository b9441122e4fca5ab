// The routing decision: a pure function over the local snapshot, so it costs no I/O on the request path.
import { AppError, FALLBACK_LIMIT_MS, availableAt, effectiveState, modelFamily } from '@switchyard/shared';
import type { AccountState, AccountStatus } from '@switchyard/shared';
import type { ChooseOptions, ChooseResult, NodeView } from './types.js';

/** The account state routing trusts: what this instance saw in responses, else the node's report. */
export function stateOf(node: NodeView): AccountState {
  return node.localState ?? node.record.state;
}

/** Why a node takes no request right now, or 'available'. */
export type NodeAvailability = AccountStatus | 'admin_drained' | 'unreachable';

/** Whether the node can take a request for the model family now, and if not, why. */
export function availabilityOf(node: NodeView, nowMs: number, family: string | undefined): NodeAvailability {
  if (node.adminDrained) return 'admin_drained';
  const status = effectiveState(stateOf(node), nowMs, family);
  if (status !== 'available') return status;
  return node.unreachableUntil !== undefined && node.unreachableUntil > nowMs ? 'unreachable' : 'available';
}

// Used share of the 5h window; a window whose reset has passed has all its room back.
function fiveHourUsed(node: NodeView, nowMs: number): number {
  const window = stateOf(node).fiveHour;
  if (window === undefined) return 0;
  if (window.resetAt !== undefined && window.resetAt <= nowMs) return 0;
  return window.utilization ?? 0;
}

function byLoadThenHeadroom(opts: ChooseOptions): (a: NodeView, b: NodeView) => number {
  const load = new Map<string, number>();
  const inFlight = (n: NodeView): number => {
    let count = load.get(n.record.nodeId);
    if (count === undefined) {
      count = opts.inFlight(n.record.nodeId);
      load.set(n.record.nodeId, count);
    }
    return count;
  };
  // Headroom is compared in 5% steps and equal nodes are ordered by a fresh random draw, so new
  // conversations spread over equally loaded accounts instead of all landing on the first id.
  const draw = new Map<string, number>();
  const rank = (n: NodeView): number => {
    let r = draw.get(n.record.nodeId);
    if (r === undefined) draw.set(n.record.nodeId, (r = (opts.random ?? Math.random)()));
    return r;
  };
  const used = (n: NodeView): number => Math.round(fiveHourUsed(n, opts.nowMs) * 20);
  return (a, b) => inFlight(a) - inFlight(b) || used(a) - used(b) || rank(a) - rank(b);
}

// Only people (or a login) bring these back, so they say nothing about when to retry.
const OUT_OF_ROTATION: ReadonlySet<NodeAvailability> = new Set([
  'admin_drained',
  'draining',
  'needs_login',
  'disabled',
]);

function noNodeError(nodes: readonly NodeView[], nowMs: number, family: string | undefined): AppError {
  const inRotation = nodes.filter((n) => !OUT_OF_ROTATION.has(availabilityOf(n, nowMs, family)));
  const allLimited = inRotation.length > 0 && inRotation.every((n) => availabilityOf(n, nowMs, family) === 'limited');
  if (!allLimited) return new AppError('overloaded', 'No account node is available right now; please retry shortly.');
  const resets = inRotation
    .map((n) => availableAt(stateOf(n), nowMs, family))
    .filter((at): at is number => at !== undefined);
  const earliest = resets.length > 0 ? Math.min(...resets) : nowMs + FALLBACK_LIMIT_MS;
  const retryAfterSec = Math.max(1, Math.ceil((earliest - nowMs) / 1000));
  return new AppError(
    'rate_limited',
    `Every account is rate-limited; the earliest resets at ${new Date(earliest).toISOString()}.`,
    {
      retryAfterSec,
    },
  );
}

/**
 * Orders the nodes that may serve a request: the sticky node first when it is available for the
 * model's family, then the rest by fewest in-flight requests (this gateway's count), ties by the most
 * 5h headroom (in 5% steps), then at random. Never a node that is draining, needs_login, disabled, drained by an admin,
 * limited (for that family) until a reset, or in its unreachable cool-down; absent nodes are simply
 * not in `nodes`. With none left: 429 rate_limited with retry-after at the earliest reset when every
 * node still in rotation is rate-limited, else 529 overloaded.
 * @example
 * const choice = chooseNodes(registry.nodes(), { model, stickyNodeId, inFlight: (id) => forwarder.inFlight(id), nowMs: Date.now() });
 * if (!choice.ok) throw choice.error;
 */
export function chooseNodes(nodes: readonly NodeView[], opts: ChooseOptions): ChooseResult {
  const family = opts.model === undefined ? undefined : modelFamily(opts.model);
  const available = nodes.filter((n) => availabilityOf(n, opts.nowMs, family) === 'available');
  if (available.length === 0) return { ok: false, error: noNodeError(nodes, opts.nowMs, family) };
  const sticky =
    opts.stickyNodeId === undefined ? undefined : available.find((n) => n.record.nodeId === opts.stickyNodeId);
  const rest = (sticky ? available.filter((n) => n !== sticky) : available).sort(byLoadThenHeadroom(opts));
  return sticky ? { ok: true, order: [sticky, ...rest], stickyHit: true } : { ok: true, order: rest, stickyHit: false };
}

// Out only for a while: the conversation should come back once the node is available again.
const TEMPORARILY_OUT: ReadonlySet<NodeAvailability> = new Set([
  'available',
  'limited',
  'admin_drained',
  'unreachable',
]);

/**
 * The node a conversation should stick to after a request that `servedBy` answered. Its previous node
 * stays its home while that node is out only for a while (rate-limited, drained by an admin, in its
 * unreachable cool-down, or just failed over from), so it returns there, where its prompt cache lives.
 * A previous node that left the fleet, is shutting down, needs a login or is disabled gives way to
 * `servedBy`.
 * @example
 * sticky.remember(key.id, session.key, stickyTargetAfter(registry.nodes(), stickyNodeId, outcome.nodeId, { model, nowMs: Date.now() }));
 */
export function stickyTargetAfter(
  nodes: readonly NodeView[],
  previous: string | undefined,
  servedBy: string,
  opts: { model: string | undefined; nowMs: number },
): string {
  if (previous === undefined || previous === servedBy) return servedBy;
  const home = nodes.find((n) => n.record.nodeId === previous);
  if (home === undefined) return servedBy;
  const family = opts.model === undefined ? undefined : modelFamily(opts.model);
  return TEMPORARILY_OUT.has(availabilityOf(home, opts.nowMs, family)) ? previous : servedBy;
}
