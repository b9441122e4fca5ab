import { AppError } from '@switchyard/shared';
import type { AccountState } from '@switchyard/shared';
import { chooseNodes, stickyTargetAfter } from './choose-nodes.js';
import type { ChooseOptions, NodeView } from './types.js';

const NOW = 1_760_000_000_000;
const SONNET = 'claude-sonnet-4-6';
const OPUS = 'claude-opus-4-5-20251101';

function node(nodeId: string, state: Partial<AccountState> = {}, extra: Partial<NodeView> = {}): NodeView {
  return {
    record: {
      nodeId,
      accountKind: 'oauth',
      state: { state: 'available', updatedAt: NOW - 1000, ...state },
      inFlight: 0,
      version: '0.1.0',
      gitSha: 'abc1234',
      startedAt: NOW - 60_000,
      heartbeatAt: NOW - 500,
    },
    adminDrained: false,
    ...extra,
  };
}

function opts(over: Partial<ChooseOptions> = {}, load: Record<string, number> = {}): ChooseOptions {
  // A constant draw keeps exact ties in input order (Array.prototype.sort is stable).
  return { model: SONNET, nowMs: NOW, inFlight: (id) => load[id] ?? 0, random: () => 0, ...over };
}

function ids(result: ReturnType<typeof chooseNodes>): string[] {
  if (!result.ok) throw result.error;
  return result.order.map((n) => n.record.nodeId);
}

function failure(result: ReturnType<typeof chooseNodes>): AppError {
  if (result.ok) throw new Error(`expected no node, got ${result.order.map((n) => n.record.nodeId).join(',')}`);
  return result.error;
}

describe('chooseNodes exclusions', () => {
  it.each<[string, NodeView]>([
    ['draining', node('x', { state: 'draining' })],
    ['needs_login', node('x', { state: 'needs_login' })],
    ['disabled', node('x', { state: 'disabled' })],
    ['drained by an admin', node('x', {}, { adminDrained: true })],
    ['limited until a future reset', node('x', { state: 'limited', limitedUntil: NOW + 60_000 })],
    ['in its unreachable cool-down', node('x', {}, { unreachableUntil: NOW + 3000 })],
  ])('never picks a node that is %s', (_label, excluded) => {
    expect(ids(chooseNodes([excluded, node('ok')], opts()))).toEqual(['ok']);
  });

  it('picks a limited node again once its reset has passed', () => {
    const lapsed = node('a', { state: 'limited', limitedUntil: NOW - 1 });
    expect(ids(chooseNodes([lapsed], opts()))).toEqual(['a']);
  });

  it('picks a node again once its unreachable cool-down has passed', () => {
    expect(ids(chooseNodes([node('a', {}, { unreachableUntil: NOW })], opts()))).toEqual(['a']);
  });

  it('skips a node limited for one model family only for that family', () => {
    const opusOut = node('a', { limitedFamilies: { opus: NOW + 60_000 } });
    const b = node('b');
    expect(ids(chooseNodes([opusOut, b], opts({ model: OPUS })))).toEqual(['b']);
    expect(ids(chooseNodes([opusOut, b], opts({ model: SONNET })))).toEqual(['a', 'b']);
  });

  it('prefers what this instance learnt from responses over the heartbeat', () => {
    const benched = node('a', {}, { localState: { state: 'limited', limitedUntil: NOW + 60_000, updatedAt: NOW } });
    expect(ids(chooseNodes([benched, node('b')], opts()))).toEqual(['b']);
  });
});

describe('chooseNodes ordering', () => {
  it('puts the node with the fewest in-flight requests first and lists every other available node after it', () => {
    const nodes = [node('a'), node('b'), node('c')];
    expect(ids(chooseNodes(nodes, opts({}, { a: 3, b: 1, c: 2 })))).toEqual(['b', 'c', 'a']);
  });

  it('breaks in-flight ties by the most 5h headroom', () => {
    const nodes = [
      node('a', { fiveHour: { utilization: 0.7 } }),
      node('b', { fiveHour: { utilization: 0.2 } }),
      node('c', { fiveHour: { utilization: 0.5 } }),
    ];
    expect(ids(chooseNodes(nodes, opts({}, { a: 1, b: 1, c: 1 })))).toEqual(['b', 'c', 'a']);
  });

  it('counts a 5h window whose reset has passed as empty', () => {
    const nodes = [
      node('a', { fiveHour: { utilization: 0.9, resetAt: NOW - 1 } }),
      node('b', { fiveHour: { utilization: 0.3, resetAt: NOW + 1000 } }),
    ];
    expect(ids(chooseNodes(nodes, opts()))).toEqual(['a', 'b']);
  });

  it('puts an available sticky node first even when it is the busiest, and reports the hit', () => {
    const result = chooseNodes([node('a'), node('b'), node('c')], opts({ stickyNodeId: 'c' }, { a: 0, b: 1, c: 9 }));
    expect(ids(result)).toEqual(['c', 'a', 'b']);
    expect(result.ok && result.stickyHit).toBe(true);
  });

  it.each<[string, NodeView]>([
    ['rate-limited', node('s', { state: 'limited', limitedUntil: NOW + 60_000 })],
    ['drained by an admin', node('s', {}, { adminDrained: true })],
    ['limited for the requested family', node('s', { limitedFamilies: { sonnet: NOW + 60_000 } })],
  ])('routes elsewhere when the sticky node is %s, with stickyHit false', (_label, sticky) => {
    const result = chooseNodes([sticky, node('b')], opts({ stickyNodeId: 's' }));
    expect(ids(result)).toEqual(['b']);
    expect(result.ok && result.stickyHit).toBe(false);
  });

  it('reports no sticky hit when the sticky node is not in the fleet', () => {
    const result = chooseNodes([node('a')], opts({ stickyNodeId: 'gone' }));
    expect(ids(result)).toEqual(['a']);
    expect(result.ok && result.stickyHit).toBe(false);
  });
});

describe('chooseNodes with nothing left', () => {
  it('answers 529 overloaded for an empty fleet', () => {
    const error = failure(chooseNodes([], opts()));
    expect(error).toBeInstanceOf(AppError);
    expect([error.code, error.status, error.anthropicType]).toEqual(['overloaded', 529, 'overloaded_error']);
  });

  it('answers 529 when the nodes are out for reasons other than rate limits', () => {
    const nodes = [
      node('a', { state: 'needs_login' }),
      node('b', {}, { adminDrained: true }),
      node('c', {}, { unreachableUntil: NOW + 5000 }),
    ];
    expect(failure(chooseNodes(nodes, opts())).status).toBe(529);
  });

  it('answers 529 when one node is rate-limited and another only unreachable for a moment', () => {
    const nodes = [
      node('a', { state: 'limited', limitedUntil: NOW + 60_000 }),
      node('b', {}, { unreachableUntil: NOW + 5000 }),
    ];
    expect(failure(chooseNodes(nodes, opts())).status).toBe(529);
  });

  it('answers 429 with retry-after at the earliest reset when every account is rate-limited', () => {
    const nodes = [
      node('a', { state: 'limited', limitedUntil: NOW + 90_000 }),
      node('b', { state: 'limited', limitedUntil: NOW + 30_500 }),
      node('c', { state: 'needs_login' }),
    ];
    const error = failure(chooseNodes(nodes, opts()));
    expect([error.code, error.status, error.anthropicType, error.retryAfterSec]).toEqual([
      'rate_limited',
      429,
      'rate_limit_error',
      31,
    ]);
  });

  it('uses the family reset when the only limit is on the requested family', () => {
    const nodes = [
      node('a', { limitedFamilies: { opus: NOW + 120_000 } }),
      node('b', { state: 'limited', limitedUntil: NOW + 600_000 }),
    ];
    const error = failure(chooseNodes(nodes, opts({ model: OPUS })));
    expect([error.status, error.retryAfterSec]).toEqual([429, 120]);
  });
});

describe('stickyTargetAfter', () => {
  const served = 'b';
  it.each<[string, NodeView | undefined, string]>([
    [
      'keeps a rate-limited home so the conversation returns',
      node('a', { state: 'limited', limitedUntil: NOW + 60_000 }),
      'a',
    ],
    ['keeps a home drained by an admin', node('a', {}, { adminDrained: true }), 'a'],
    ['keeps an available home that was failed over from', node('a'), 'a'],
    ['moves off a home that needs a login', node('a', { state: 'needs_login' }), served],
    ['moves off a home that is shutting down', node('a', { state: 'draining' }), served],
    ['moves off a home that left the fleet', undefined, served],
  ])('%s', (_label, home, expected) => {
    const nodes = home ? [home, node('b')] : [node('b')];
    expect(stickyTargetAfter(nodes, 'a', served, { model: SONNET, nowMs: NOW })).toBe(expected);
  });

  it('sticks a new conversation to the node that served it', () => {
    expect(stickyTargetAfter([node('a'), node('b')], undefined, 'b', { model: SONNET, nowMs: NOW })).toBe('b');
  });
});

describe('chooseNodes spreading', () => {
  it('spreads new conversations over equally loaded nodes instead of always taking the first', () => {
    const firsts = new Set<string>();
    for (let i = 0; i < 40; i++)
      firsts.add(ids(chooseNodes([node('a'), node('b'), node('c')], opts({ random: Math.random })))[0]!);
    expect(firsts).toEqual(new Set(['a', 'b', 'c']));
  });
});
