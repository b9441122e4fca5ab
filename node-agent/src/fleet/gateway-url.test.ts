import { gatewayUrlProblem, isLocalOrPrivateHost } from './gateway-url.js';

describe('which gateway URLs a node may dial in plain http', () => {
  test.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['gw.localhost', true],
    ['10.0.0.5', true],
    ['172.31.255.255', true],
    ['192.168.0.1', true],
    ['100.64.0.1', true],
    ['169.254.1.1', true],
    ['[::1]', true],
    ['[fd12::1]', true],
    ['[fe80::1]', true],
    ['[::ffff:10.0.0.1]', true],
    ['[::ffff:8.8.8.8]', false],
    ['172.15.0.1', false],
    ['100.128.0.1', false],
    ['[2001:db8::1]', false],
    ['gateway', false],
    ['localhost.example.com', false],
  ])('%s → %s', (host, local) => {
    expect(isLocalOrPrivateHost(host)).toBe(local);
  });

  test('https always passes; plain http to a public host only with the opt-in, and the refusal names it', () => {
    expect(gatewayUrlProblem(new URL('https://gw.example.com'), false)).toBeUndefined();
    expect(gatewayUrlProblem(new URL('http://gw.example.com'), true)).toBeUndefined();
    expect(gatewayUrlProblem(new URL('http://gw.example.com'), false)).toMatch(/GATEWAY_ALLOW_HTTP=true/);
    expect(gatewayUrlProblem(new URL('ftp://gw.example.com'), true)).toMatch(/https:\/\//);
  });
});
