// The fleet's builds as `switchyard nodes list` sums them up under its table, and each node's RUNS OUT cell.
import { runsOutOf, versionsLine } from './nodes.js';

describe('versions line', () => {
  it('names each build with its node count, newest first, and says when they differ', () => {
    const line = versionsLine({
      versions: [
        { version: '0.2.0', gitSha: 'def5678aa11', nodes: ['node-c'] },
        { version: '0.1.0', gitSha: 'abc1234bb22', nodes: ['node-a', 'node-b'] },
      ],
      mixedVersions: true,
    });
    expect(line).toBe('versions: 0.2.0 (def5678) on 1 node, 0.1.0 (abc1234) on 2 nodes — mixed');
  });

  it('a fleet on one build is not mixed', () => {
    expect(
      versionsLine({
        versions: [{ version: '0.1.0', gitSha: 'abc1234', nodes: ['node-a', 'node-b'] }],
        mixedVersions: false,
      }),
    ).toBe('versions: 0.1.0 (abc1234) on 2 nodes');
  });

  it('prints nothing for a gateway that does not group builds', () => {
    expect(versionsLine({})).toBeUndefined();
  });
});

describe('runs out', () => {
  const NOW = Date.UTC(2026, 11, 7, 12, 0, 0);
  const window = (exhaustsAt: number | null) => ({
    utilization: 0.5,
    burnPerHour: exhaustsAt === null ? 0 : 0.4,
    exhaustsAt,
    resetAt: NOW + 4 * 3_600_000,
  });

  it('names when and which window runs out first', () => {
    const at = NOW + 80 * 60_000;
    expect(runsOutOf({ foresight: { fiveHour: window(at), sevenDay: window(null), exhaustsAt: at } }, NOW)).toBe(
      'in 1h 20m (5h)',
    );
    expect(
      runsOutOf({ foresight: { fiveHour: window(null), sevenDay: window(NOW - 1), exhaustsAt: NOW - 1 } }, NOW),
    ).toBe('now (7d)');
  });

  it('says an account lasts, has no windows (API key), or that nothing is known', () => {
    expect(runsOutOf({ foresight: { fiveHour: window(null), exhaustsAt: null } }, NOW)).toBe('lasts to reset');
    expect(runsOutOf({ foresight: null }, NOW)).toBe('n/a (API key)');
    expect(runsOutOf({ foresight: { exhaustsAt: null } }, NOW)).toBe('-');
    expect(runsOutOf({}, NOW)).toBe('-');
  });
});
