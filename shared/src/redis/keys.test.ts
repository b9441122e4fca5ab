import { createHash } from 'node:crypto';
import { createKeyspace, epochMinute, utcDay } from './keys.js';

const digest = (s: string) => createHash('sha256').update(s).digest('hex');

describe('createKeyspace', () => {
  const keys = createKeyspace();

  it('builds every documented key under the default prefix', () => {
    const d = digest('sy-some-user-key');
    expect({
      nodeEnrolment: keys.nodeEnrolment('node-a'),
      nodeEnrolments: keys.nodeEnrolments(),
      sealedCredential: keys.sealedCredential('node-a'),
      nodeLease: keys.nodeLease('node-a'),
      gatewayReplicas: keys.gatewayReplicas(),
      nodeControl: keys.nodeControl('node-a'),
      keyByDigest: keys.keyByDigest(d),
      keyIds: keys.keyIds(),
      keyById: keys.keyById('k1'),
      sticky: keys.sticky('k1', 'abc123'),
      rateWindow: keys.rateWindow('k1', 29_000_000),
      concurrency: keys.concurrency('k1'),
      usage: keys.usage('model', 'claude-sonnet-4-5', '2025-01-31'),
      usageDone: keys.usageDone('req_01'),
      blockTokens: keys.blockTokens('o200k_base', d),
      usageIndex: keys.usageIndex('key', '2025-01-31'),
      usageAllTime: keys.usageAllTime(),
      recent: keys.recent(),
    }).toEqual({
      nodeEnrolment: 'sy:enrol:node-a',
      nodeEnrolments: 'sy:enrolled',
      sealedCredential: 'sy:sealed:node-a',
      nodeLease: 'sy:lease:node-a',
      gatewayReplicas: 'sy:gateways',
      nodeControl: 'sy:node:node-a:control',
      keyByDigest: `sy:key:${d}`,
      keyIds: 'sy:keys',
      keyById: 'sy:keyid:k1',
      sticky: 'sy:sticky:k1:abc123',
      rateWindow: 'sy:rl:k1:29000000',
      concurrency: 'sy:conc:k1',
      usage: 'sy:usage:model:claude-sonnet-4-5:2025-01-31',
      usageDone: 'sy:usage:done:req_01',
      blockTokens: `sy:blk:o200k_base:${d}`,
      usageIndex: 'sy:usage-ids:key:2025-01-31',
      usageAllTime: 'sy:usage:total',
      recent: 'sy:recent',
    });
    expect(keys.prefix).toBe('sy:');
  });

  it('puts every key under a custom prefix, including a test prefix with inner colons', () => {
    const custom = createKeyspace('sytest:keys:ab12cd34:');
    expect(custom.nodeEnrolment('n1')).toBe('sytest:keys:ab12cd34:enrol:n1');
    expect(custom.usage('global', 'all', '2025-02-01')).toBe('sytest:keys:ab12cd34:usage:global:all:2025-02-01');
  });

  it('rejects a prefix that does not end with a single ":"', () => {
    for (const bad of ['sy', '', ':', 'sy::', 'sy :', 'sy\n:']) expect(() => createKeyspace(bad)).toThrow(RangeError);
  });

  it('refuses anything but a SHA-256 hex digest where a digest belongs, so a raw key never lands in a key name', () => {
    expect(() => keys.keyByDigest('sy-raw-user-key')).toThrow(RangeError);
    expect(() => keys.keyByDigest(digest('x').toUpperCase())).toThrow(RangeError);
    expect(() => keys.blockTokens('o200k_base', 'abc')).toThrow(RangeError);
  });

  it('rejects ids that could reach another key or break tooling', () => {
    // 'a:control' as a node id would make it reach another node's key.
    expect(() => keys.nodeControl('a:control')).toThrow(RangeError);
    expect(() => keys.nodeEnrolment('')).toThrow(RangeError);
    expect(() => keys.sticky('k1', 'has space')).toThrow(RangeError);
    expect(() => keys.rateWindow('k1', 1.5)).toThrow(RangeError);
    expect(() => keys.usage('key', 'k1', '2025-1-1')).toThrow(RangeError);
    expect(() => keys.usage('team' as never, 'k1', '2025-01-01')).toThrow(RangeError);
  });

  it('allows ":" in usage ids, since some model ids carry one', () => {
    expect(keys.usage('model', 'anthropic.claude-v2:1', '2025-01-01')).toBe(
      'sy:usage:model:anthropic.claude-v2:1:2025-01-01',
    );
  });
});

describe('key time parts', () => {
  it('utcDay is the UTC calendar day and epochMinute the whole minutes since the epoch', () => {
    const t = Date.UTC(2025, 0, 31, 23, 59, 59, 999);
    expect(utcDay(t)).toBe('2025-01-31');
    expect(utcDay(t + 1)).toBe('2025-02-01');
    expect(epochMinute(t)).toBe(Math.floor(t / 60_000));
    expect(epochMinute(t + 1)).toBe(epochMinute(t) + 1);
  });
});
