import type { IncomingMessage } from 'node:http';
import { TUNNEL_PATH, TUNNEL_UPGRADE } from '@switchyard/shared';
import { checkUpgradeShape, loggable } from './upgrade-request.js';

function req(url: string, headers: Record<string, string | string[]>): IncomingMessage {
  return { url, headers } as unknown as IncomingMessage;
}

const good = { upgrade: TUNNEL_UPGRADE, 'x-switchyard-instance': 'a1b2c3d4e5f6' };

describe('checkUpgradeShape', () => {
  it('takes the tunnel path (any query) with the tunnel protocol and an instance id', () => {
    expect(checkUpgradeShape(req(`${TUNNEL_PATH}?v=1`, good), 'gw-1')).toEqual({
      ok: true,
      instance: 'a1b2c3d4e5f6',
      replica: undefined,
    });
    expect(
      checkUpgradeShape(
        req(TUNNEL_PATH, { ...good, upgrade: TUNNEL_UPGRADE.toUpperCase(), 'x-switchyard-replica': 'gw-1' }),
        'gw-1',
      ),
    ).toEqual({ ok: true, instance: 'a1b2c3d4e5f6', replica: 'gw-1' });
  });

  it.each([
    ['another path', req('/v1/messages', good), 'not_found'],
    ['a websocket', req(TUNNEL_PATH, { ...good, upgrade: 'websocket' }), 'malformed'],
    ['another replica', req(TUNNEL_PATH, { ...good, 'x-switchyard-replica': 'gw-2' }), 'misdirected'],
    ['no instance', req(TUNNEL_PATH, { upgrade: TUNNEL_UPGRADE }), 'malformed'],
    ['an instance with a comma', req(TUNNEL_PATH, { ...good, 'x-switchyard-instance': 'abcdefgh,ijk' }), 'malformed'],
    [
      'two instances',
      req(TUNNEL_PATH, { ...good, 'x-switchyard-instance': ['abcdefghij', 'abcdefghik'] }),
      'malformed',
    ],
  ])('refuses %s', (_what, request, reason) => {
    expect(checkUpgradeShape(request, 'gw-1')).toMatchObject({ ok: false, reason });
  });
});

describe('loggable', () => {
  it('cuts a stranger’s header to 64 characters', () => {
    expect(loggable('x'.repeat(500))).toHaveLength(64);
    expect(loggable(['a', 'b'])).toBeUndefined();
  });
});
