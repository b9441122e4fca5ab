// The dialler's decisions with an injected dial and sleep: which delays follow which failures, and which lines
// an operator sees (once per run of failures, not once per dial).
import http from 'node:http';
import { NodeTokens } from '@switchyard/shared';
import { captureLogger } from '../http/test-harness.js';
import type { DialOptions, DialOutcome } from './tunnel-dial.js';
import { createTunnelClient } from './tunnel-client.js';

const TOKEN = NodeTokens.generate();

type Step = DialOutcome | Error;

function refusal(status: number, code: string): DialOutcome {
  return { kind: 'refused', status, code, message: code };
}

function setup(steps: Step[]) {
  const log = captureLogger();
  const dials: DialOptions[] = [];
  const sleeps: number[] = [];
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const client = createTunnelClient({
    gatewayUrl: new URL('https://gw.example.com/base/'),
    nodeId: 'node-7',
    token: TOKEN,
    allowHttp: false,
    onStateStream: () => undefined,
    connections: http.createServer(),
    log,
    pingIntervalMs: 1_000,
    pingTimeoutMs: 2_000,
    backoff: { random: () => 0.5 },
    sleep: (ms) => {
      sleeps.push(ms);
      return new Promise((r) => setImmediate(r));
    },
    dial: (opts) => {
      dials.push(opts);
      const step = steps[dials.length - 1];
      if (dials.length >= steps.length) {
        client.stopDialing();
        done();
      }
      if (step === undefined) return Promise.resolve(refusal(503, 'unavailable'));
      return step instanceof Error ? Promise.reject(step) : Promise.resolve(step);
    },
  });
  return { client, log, dials, sleeps, finished };
}

const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

test('each failure waits longer (jittered, up to 30 s); a refused token waits at the slow end; each condition is logged once', async () => {
  const { client, log, sleeps, finished } = setup([
    refused,
    refused,
    refused,
    refusal(401, 'unauthenticated'),
    refusal(401, 'unauthenticated'),
    refusal(401, 'unauthenticated'),
    refusal(503, 'unavailable'),
    refusal(409, 'duplicate_node'),
    refusal(409, 'duplicate_node'),
  ]);
  client.start();
  await finished;
  expect(sleeps).toEqual([188, 375, 750, 22500, 22500, 22500, 12000, 22500]);
  const lines = log.lines.map((l) => [l.level, l.message]);
  expect(lines).toEqual([
    ['warn', 'gateway unreachable, retrying'],
    ['error', 'node token refused (revoked or wrong)'],
    ['info', 'gateway unavailable, retrying'],
    ['error', 'another process holds this node id'],
  ]);
  expect(log.lines[1]!.meta).toMatchObject({
    nodeId: 'node-7',
    status: 401,
    fix: expect.stringContaining('switchyard nodes add node-7') as unknown,
  });
  expect(log.lines[3]!.meta).toMatchObject({ nodeId: 'node-7', status: 409 });
  expect(JSON.stringify(log.lines)).not.toContain(TOKEN);
});

test('every dial carries the same identity and goes to GATEWAY_URL with no replica header while no tunnel is open', async () => {
  const { client, dials, finished } = setup([refused, refusal(401, 'unauthenticated'), refusal(421, 'misdirected')]);
  client.start();
  await finished;
  expect(dials).toHaveLength(3);
  for (const d of dials) {
    expect(d.target.url.toString()).toBe('https://gw.example.com/base/');
    expect(d.target.replica).toBeUndefined();
    expect(d.identity).toEqual({ nodeId: 'node-7', token: TOKEN, instance: client.instance });
  }
  expect(client.instance).toMatch(/^[0-9a-f]{64}$/);
  // Another process (another client) is another instance.
  expect(setup([]).client.instance).not.toBe(client.instance);
});

test('stopDialing stops the loop: no dial after it', async () => {
  const { client, dials, finished } = setup([refused]);
  client.start();
  await finished;
  await new Promise((r) => setTimeout(r, 20));
  expect(dials).toHaveLength(1);
  expect(client.connected()).toEqual([]);
});
