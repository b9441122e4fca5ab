import type { NodeReport } from '@switchyard/shared';
import type { NodeView } from '../routing/index.js';
import { fleetSeries } from './fleet-series.js';

const NOW = 1_800_000_000_000;

function view(nodeId: string, state: NodeReport['state'], extra: Partial<NodeView> = {}): NodeView {
  const record: NodeReport = {
    nodeId,
    accountKind: 'oauth',
    state,
    inFlight: 0,
    version: '0',
    gitSha: 'x',
    startedAt: NOW - 1000,
    heartbeatAt: NOW,
  };
  return { record, adminDrained: false, ...extra };
}

describe('fleetSeries', () => {
  it('a limited node: its state, when the limit lifts, and its window figures in seconds', () => {
    const [s] = fleetSeries(
      [
        view('a', {
          state: 'limited',
          limitedUntil: NOW + 600_000,
          fiveHour: { utilization: 1.01, resetAt: NOW + 600_000 },
          sevenDay: { utilization: 0.3 },
          updatedAt: NOW,
        }),
      ],
      NOW,
    );
    expect(s).toEqual({
      nodeId: 'a',
      state: 'limited',
      limitedUntil: (NOW + 600_000) / 1000,
      families: [],
      windows: [
        { window: '5h', utilization: 1.01, resetsAt: (NOW + 600_000) / 1000 },
        { window: '7d', utilization: 0.3 },
      ],
    });
  });

  it('a lapsed limit reads available with no reset time; only running family limits are listed', () => {
    const [s] = fleetSeries(
      [
        view('a', {
          state: 'limited',
          limitedUntil: NOW - 1,
          limitedFamilies: { opus: NOW + 5_000, haiku: NOW - 5_000 },
          updatedAt: NOW,
        }),
      ],
      NOW,
    );
    expect(s).toMatchObject({ state: 'available', families: [{ family: 'opus', until: (NOW + 5_000) / 1000 }] });
    expect(s?.limitedUntil).toBeUndefined();
  });

  it('what only the gateway knows wins: an admin drain, an unreachable cool-down, a limit seen in a response', () => {
    const available = { state: 'available' as const, updatedAt: NOW };
    const series = fleetSeries(
      [
        view('a', available, { adminDrained: true }),
        view('b', available, { unreachableUntil: NOW + 5_000 }),
        view('c', available, { localState: { state: 'limited', limitedUntil: NOW + 60_000, updatedAt: NOW } }),
      ],
      NOW,
    );
    expect(series.map((s) => s.state)).toEqual(['admin_drained', 'unreachable', 'limited']);
    expect(series[2]?.limitedUntil).toBe((NOW + 60_000) / 1000);
  });
});
