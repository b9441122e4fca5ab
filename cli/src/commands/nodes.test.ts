// The fleet's builds as `switchyard nodes list` sums them up under its table.
import { versionsLine } from './nodes.js';

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
    expect(versionsLine({ versions: [{ version: '0.1.0', gitSha: 'abc1234', nodes: ['node-a', 'node-b'] }], mixedVersions: false })).toBe('versions: 0.1.0 (abc1234) on 2 nodes');
  });

  it('prints nothing for a gateway that does not group builds', () => {
    expect(versionsLine({})).toBeUndefined();
  });
});
