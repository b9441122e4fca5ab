import type { AccountState, NodeReport } from '@switchyard/shared';
import { buildViews, forgetCovered, overlay, type Observation } from './node-views.js';

const NOW = 1_760_000_000_000;

function state(over: Partial<AccountState> = {}): AccountState {
  return { state: 'available', updatedAt: NOW, ...over };
}

function record(nodeId: string, heartbeatAt: number, over: Partial<AccountState> = {}): NodeReport {
  return {
    nodeId,
    accountKind: 'oauth',
    state: state(over),
    inFlight: 0,
    version: '0.1.0',
    gitSha: 'abc1234',
    startedAt: NOW - 60_000,
    heartbeatAt,
  };
}

const benched = state({ state: 'limited', limitedUntil: NOW + 60_000, fiveHour: { utilization: 1.01 } });

describe('overlay', () => {
  it.each(['needs_login', 'disabled', 'draining'] as const)(
    'lets the node have the last word when it says %s',
    (pinned) => {
      expect(overlay(state({ state: pinned }), benched).state).toBe(pinned);
    },
  );

  it('keeps a limit the newer heartbeat does not show yet', () => {
    const merged = overlay(state({ fiveHour: { utilization: 0.4 } }), benched);
    expect([merged.state, merged.limitedUntil, merged.fiveHour?.utilization]).toEqual(['limited', NOW + 60_000, 1.01]);
  });

  it('keeps the later of two limits and merges family limits', () => {
    const merged = overlay(
      state({ state: 'limited', limitedUntil: NOW + 90_000, limitedFamilies: { opus: NOW + 10_000 } }),
      state({
        state: 'limited',
        limitedUntil: NOW + 60_000,
        limitedFamilies: { opus: NOW + 20_000, haiku: NOW + 5000 },
      }),
    );
    expect(merged.limitedUntil).toBe(NOW + 90_000);
    expect(merged.limitedFamilies).toEqual({ opus: NOW + 20_000, haiku: NOW + 5000 });
  });
});

describe('buildViews', () => {
  it('uses the learnt state as is over the heartbeat it was learnt on, and overlays it on a newer one', () => {
    const observations = new Map<string, Observation>([
      ['a', { state: benched, baseHeartbeatAt: NOW - 1000, observedAt: NOW }],
    ]);
    const local = { drained: new Set(['b']), observations, unreachable: new Map([['b', NOW + 5000]]) };
    const [a, b] = buildViews([record('a', NOW - 1000), record('b', NOW)], local, NOW);
    expect(a?.localState).toBe(benched);
    expect([b?.adminDrained, b?.unreachableUntil, b?.localState]).toEqual([true, NOW + 5000, undefined]);

    const [draining] = buildViews([record('a', NOW, { state: 'draining' })], local, NOW);
    expect(draining?.localState?.state).toBe('draining');
  });
});

describe('forgetCovered', () => {
  it('forgets an observation once a newer heartbeat arrived and the grace period passed, and lapsed cool-downs', () => {
    const observed: Observation = { state: benched, baseHeartbeatAt: NOW - 1000, observedAt: NOW };
    const observations = new Map([['a', observed]]);
    const unreachable = new Map([['a', NOW + 100]]);

    forgetCovered([record('a', NOW - 1000)], observations, unreachable, NOW + 5000, 2000);
    expect(observations.has('a')).toBe(true); // same heartbeat: nothing newer yet
    forgetCovered([record('a', NOW + 10)], observations, unreachable, NOW + 1000, 2000);
    expect(observations.has('a')).toBe(true); // newer beat, but it may have left before the response
    expect(unreachable.has('a')).toBe(false);
    forgetCovered([record('a', NOW + 10)], observations, unreachable, NOW + 2000, 2000);
    expect(observations.has('a')).toBe(false);
  });

  it('forgets everything about a node that left the fleet', () => {
    const observations = new Map([['gone', { state: benched, baseHeartbeatAt: NOW, observedAt: NOW }]]);
    const unreachable = new Map([['gone', NOW + 5000]]);
    forgetCovered([], observations, unreachable, NOW, 2000);
    expect([observations.size, unreachable.size]).toEqual([0, 0]);
  });
});
