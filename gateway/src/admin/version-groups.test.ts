// GET /admin/nodes groups the fleet by build, so a roll-out in progress (or a stalled one) shows at a glance.
import { versionGroups } from './node-routes.js';

const node = (nodeId: string, version: string, gitSha: string, startedAt: number) => ({
  nodeId,
  version,
  gitSha,
  startedAt,
});

describe('version groups', () => {
  it('groups by version and git sha, the most recently started build first, node ids sorted', () => {
    const groups = versionGroups([
      node('node-b', '0.1.0', 'abc1234', 1_000),
      node('node-c', '0.2.0', 'def5678', 5_000),
      node('node-a', '0.1.0', 'abc1234', 2_000),
      node('node-d', '0.2.0', 'def5678', 4_000),
    ]);
    expect(groups).toEqual([
      { version: '0.2.0', gitSha: 'def5678', nodes: ['node-c', 'node-d'] },
      { version: '0.1.0', gitSha: 'abc1234', nodes: ['node-a', 'node-b'] },
    ]);
  });

  it('tells apart two builds of one version (a rebuild from another commit)', () => {
    const groups = versionGroups([
      node('node-a', '0.1.0', 'abc1234', 1_000),
      node('node-b', '0.1.0', 'fff0000', 2_000),
    ]);
    expect(groups.map((g) => [g.gitSha, g.nodes])).toEqual([
      ['fff0000', ['node-b']],
      ['abc1234', ['node-a']],
    ]);
  });

  it('an empty fleet has no groups', () => {
    expect(versionGroups([])).toEqual([]);
  });
});
