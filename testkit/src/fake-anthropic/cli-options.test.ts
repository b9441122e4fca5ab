// The fake's command line.
import { parseFakeCliArgs } from './cli-options.js';

test('defaults: port 4010 on loopback, one oauth account, instant pacing, no bodies kept', () => {
  const options = parseFakeCliArgs([]);
  expect(options).toMatchObject({ port: 4010, host: '127.0.0.1' });
  expect(options.fake.accounts).toEqual([{ id: 'acct-1', kind: 'oauth' }]);
  expect(options.fake.timing).toMatchObject({ firstByteDelayMs: 0, deltaIntervalMs: 0 });
  expect(options.fake.recordBodies).toBe(false);
});

test('flags set port, accounts and pacing, with or without "="', () => {
  const options = parseFakeCliArgs([
    '--port',
    '5000',
    '--accounts=2',
    '--api-key-accounts',
    '1',
    '--delta-interval-ms',
    '20',
  ]);
  expect(options.port).toBe(5000);
  expect(options.fake.accounts?.map((account) => `${account.id}:${account.kind ?? ''}`)).toEqual([
    'acct-1:oauth',
    'acct-2:oauth',
    'key-1:api_key',
  ]);
  expect(options.fake.timing?.deltaIntervalMs).toBe(20);
});

test('unknown flags and bad numbers are refused with the usage', () => {
  expect(() => parseFakeCliArgs(['--prot', '1'])).toThrow(/usage/);
  expect(() => parseFakeCliArgs(['--port', 'abc'])).toThrow(/whole number/);
  expect(() => parseFakeCliArgs(['--port'])).toThrow(/usage/);
});
