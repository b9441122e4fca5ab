import { probeAddress } from './health-probe.js';

describe('probeAddress', () => {
  it('probes a process bound to every interface (the images bind 0.0.0.0) on loopback', () => {
    expect(['0.0.0.0', '', '::', '[::]'].map(probeAddress)).toEqual(['127.0.0.1', '127.0.0.1', '::1', '::1']);
  });

  it('probes a process bound to one address at that address', () => {
    expect(['127.0.0.1', '10.0.0.5', '[fd00::5]', 'gateway-1'].map(probeAddress)).toEqual([
      '127.0.0.1',
      '10.0.0.5',
      'fd00::5',
      'gateway-1',
    ]);
  });
});
