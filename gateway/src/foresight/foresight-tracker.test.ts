import {
  AlertEventSchema,
  createNullLogger,
  type AccountState,
  type AlertEvent,
  type AlertSink,
} from '@switchyard/shared';
import type { NodeView } from '../routing/index.js';
import { fleetExhaustion } from './fleet-exhaustion.js';
import { createForesight } from './foresight-tracker.js';

const T0 = Date.UTC(2026, 11, 7, 12, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;
const RESET_A = T0 + 3 * HOUR;
const RESET_B = T0 + 4 * HOUR;

function view(
  nodeId: string,
  state: Partial<AccountState> = {},
  extra: Partial<NodeView> & { accountKind?: 'oauth' | 'api_key' } = {},
): NodeView {
  const { accountKind = 'oauth', ...rest } = extra;
  return {
    record: {
      nodeId,
      accountKind,
      state: { state: 'available', updatedAt: T0, ...state },
      inFlight: 0,
      version: '0.1.0',
      gitSha: 'abc1234',
      startedAt: T0 - HOUR,
      heartbeatAt: T0,
    },
    adminDrained: false,
    ...rest,
  };
}

/** A fleet whose views a test rewrites between ticks, a clock it moves, and a sink that records. */
function rig() {
  let nowMs = T0;
  let views: NodeView[] = [];
  const raised: AlertEvent[] = [];
  const alerts: AlertSink = { emit: (e) => raised.push(e) };
  const foresight = createForesight({
    registry: { nodes: () => views },
    log: createNullLogger(),
    alerts,
    now: () => nowMs,
  });
  return {
    foresight,
    raised,
    at(minute: number, next: NodeView[]) {
      nowMs = T0 + minute * MIN;
      views = next;
      return foresight.tick();
    },
  };
}

const burning = (nodeId: string, utilization: number, resetAt: number, extra: Partial<AccountState> = {}) =>
  view(nodeId, {
    fiveHour: { utilization, resetAt },
    sevenDay: { utilization: 0.3, resetAt: T0 + 5 * 24 * HOUR },
    ...extra,
  });

describe('createForesight', () => {
  it('predicts each node from its scripted readings, the earliest window deciding', () => {
    const { at } = rig();
    at(0, [burning('a', 0.2, RESET_A)]);
    at(10, [burning('a', 0.3, RESET_A)]);
    const fleet = at(20, [burning('a', 0.4, RESET_A)]);
    const a = fleet.get('a');
    expect(a?.fiveHour).toMatchObject({ utilization: 0.4, resetAt: RESET_A, samples: 3, since: T0 });
    expect(a?.fiveHour?.burnPerHour).toBeCloseTo(0.6, 10);
    // 0.6 left at 0.6 an hour: an hour after minute 20, before the 3-hour reset.
    expect(a?.fiveHour?.exhaustsAt).toBe(T0 + 80 * MIN);
    expect(a?.sevenDay).toMatchObject({ burnPerHour: 0, exhaustsAt: null });
    expect(a).toMatchObject({ exhaustsAt: T0 + 80 * MIN, at: T0 + 20 * MIN });
  });

  it('gives an API-key node no foresight, and forgets a node that left', () => {
    const { at } = rig();
    expect(at(0, [view('k', {}, { accountKind: 'api_key' })]).get('k')).toBeNull();
    at(0, [burning('a', 0.2, RESET_A)]);
    at(10, [burning('a', 0.5, RESET_A)]);
    at(11, []);
    // Back: one reading, no burn yet.
    expect(at(12, [burning('a', 0.5, RESET_A)]).get('a')?.fiveHour).toMatchObject({ samples: 1, burnPerHour: 0 });
  });

  it('starts a window over at its reset', () => {
    const { at } = rig();
    at(0, [burning('a', 0.5, RESET_A)]);
    at(30, [burning('a', 0.9, RESET_A)]);
    const next = at(31, [burning('a', 0.01, RESET_A + 5 * HOUR)]).get('a');
    expect(next?.fiveHour).toMatchObject({
      utilization: 0.01,
      samples: 1,
      burnPerHour: 0,
      exhaustsAt: null,
      resetAt: RESET_A + 5 * HOUR,
    });
  });

  it('raises one fleet_exhaustion alert when every serving node runs out before its reset, once per reset period', () => {
    const { at, raised } = rig();
    at(0, [
      burning('a', 0.2, RESET_A),
      burning('b', 0.1, RESET_B),
      view('gone', { state: 'needs_login' }),
      view('d', {}, { adminDrained: true }),
    ]);
    at(10, [
      burning('a', 0.4, RESET_A),
      burning('b', 0.1, RESET_B),
      view('gone', { state: 'needs_login' }),
      view('d', {}, { adminDrained: true }),
    ]);
    // b lasts: no alert.
    expect(raised).toEqual([]);
    at(20, [
      burning('a', 0.6, RESET_A),
      burning('b', 0.5, RESET_B),
      view('gone', { state: 'needs_login' }),
      view('d', {}, { adminDrained: true }),
    ]);
    at(21, [
      burning('a', 0.61, RESET_A),
      burning('b', 0.52, RESET_B),
      view('gone', { state: 'needs_login' }),
      view('d', {}, { adminDrained: true }),
    ]);
    expect(raised).toHaveLength(1);
    const alert = AlertEventSchema.parse(raised[0]);
    // a: 0.4 in 20 min (1.2/h) from 0.6 → 20 min after minute 20; b: 0.4 in 20 min from 0.5 → 25 min after.
    expect(alert).toMatchObject({
      id: `fleet_exhaustion:${RESET_A}`,
      type: 'fleet_exhaustion',
      at: T0 + 20 * MIN,
      data: { servingNodes: 2, limitedNodes: 0, fleetExhaustsAt: T0 + 45 * MIN, earliestResetAt: RESET_A },
    });
    expect(alert.message).toContain(new Date(T0 + 45 * MIN).toISOString());
    expect(alert.message).toContain(new Date(RESET_A).toISOString());
  });

  it('counts a limited node as out, and raises a new alert in the next reset period', () => {
    const { at, raised } = rig();
    const limited = (until: number) =>
      view('a', { state: 'limited', limitedUntil: until, fiveHour: { utilization: 1.0, resetAt: until } });
    at(0, [limited(RESET_A), burning('b', 0.2, RESET_B)]);
    at(20, [limited(RESET_A), burning('b', 0.6, RESET_B)]);
    expect(raised.map((e) => e.id)).toEqual([`fleet_exhaustion:${RESET_A}`]);
    expect(raised[0]?.data).toMatchObject({ limitedNodes: 1, fleetExhaustsAt: T0 + 40 * MIN });
    // The next period: a is limited again until a later reset, b keeps burning.
    const nextReset = RESET_A + 5 * HOUR;
    at(30, [limited(nextReset), burning('b', 0.8, RESET_B)]);
    expect(raised.map((e) => e.id)).toEqual([`fleet_exhaustion:${RESET_A}`, `fleet_exhaustion:${RESET_B}`]);
  });

  it('a sink that throws changes no prediction', () => {
    let nowMs = T0;
    let views = [burning('a', 0.2, RESET_A)];
    const foresight = createForesight({
      registry: { nodes: () => views },
      log: createNullLogger(),
      alerts: {
        emit: () => {
          throw new Error('sink down');
        },
      },
      now: () => nowMs,
    });
    foresight.tick();
    nowMs += 10 * MIN;
    views = [burning('a', 0.9, RESET_A)];
    expect(foresight.tick().get('a')?.exhaustsAt).toBe(T0 + 10 * MIN + Math.round((0.1 / 4.2) * HOUR));
  });
});

describe('fleetExhaustion', () => {
  const member = (
    nodeId: string,
    exhaustsAt: number | null,
    extra: { state?: AccountState['state']; adminDrained?: boolean; apiKey?: boolean } = {},
  ) => ({
    nodeId,
    account: { state: extra.state ?? 'available', updatedAt: T0 } as AccountState,
    adminDrained: extra.adminDrained ?? false,
    foresight: extra.apiKey
      ? null
      : {
          exhaustsAt,
          at: T0,
          fiveHour: {
            utilization: 0.5,
            burnPerHour: exhaustsAt === null ? 0 : 1,
            exhaustsAt,
            resetAt: RESET_A,
            samples: 2,
            since: T0,
          },
        },
  });

  it.each([
    ['no node at all', []],
    ['an API-key node still serving', [member('a', T0 + HOUR), member('k', null, { apiKey: true })]],
    ['one node lasting until its reset', [member('a', T0 + HOUR), member('b', null)]],
    [
      'only nodes out of rotation',
      [member('a', T0 + HOUR, { state: 'needs_login' }), member('b', T0 + HOUR, { adminDrained: true })],
    ],
  ])('raises nothing with %s', (_label, members) => {
    expect(fleetExhaustion(members, T0)).toBeUndefined();
  });

  it('raises nothing when the nodes run out one after another and one is back before the last runs out', () => {
    const withReset = (m: ReturnType<typeof member>, resetAt: number) => ({
      ...m,
      foresight: { ...m.foresight!, fiveHour: { ...m.foresight!.fiveHour, resetAt } },
    });
    // a runs out in 1 h and resets in 1.5 h; b runs out in 2 h: a serves again before b is out.
    const staggered = [
      withReset(member('a', T0 + HOUR), T0 + 90 * MIN),
      withReset(member('b', T0 + 2 * HOUR), T0 + 5 * HOUR),
    ];
    expect(fleetExhaustion(staggered, T0)).toBeUndefined();
    // b runs out in 80 min instead: both are out from then until a's reset.
    const together = [
      withReset(member('a', T0 + HOUR), T0 + 90 * MIN),
      withReset(member('b', T0 + 80 * MIN), T0 + 5 * HOUR),
    ];
    expect(fleetExhaustion(together, T0)).toMatchObject({
      id: `fleet_exhaustion:${T0 + 90 * MIN}`,
      data: { fleetExhaustsAt: T0 + 80 * MIN },
    });
  });

  it('ignores nodes out of rotation when the rest run out', () => {
    const alert = fleetExhaustion(
      [member('a', T0 + HOUR), member('b', null, { state: 'disabled' }), member('c', null, { state: 'draining' })],
      T0,
    );
    expect(alert).toMatchObject({
      id: `fleet_exhaustion:${RESET_A}`,
      data: { servingNodes: 1, fleetExhaustsAt: T0 + HOUR },
    });
  });
});
