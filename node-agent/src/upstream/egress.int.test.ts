// EGRESS_LOCAL_ADDRESS: API traffic leaves from the configured local IP (Linux routes all of 127.0.0.0/8 to lo).
import http from 'node:http';
import { createFakeAnthropic, fakeMessagesBody, type FakeAnthropic } from '@switchyard/testkit';
import { call, oauthAuth, startNode } from '../http/test-harness.js';
import { createEgress } from './egress.js';

let fake: FakeAnthropic;
let fakeUrl: string;

beforeAll(async () => {
  fake = createFakeAnthropic({ accounts: [{ id: 'max-1' }] });
  fakeUrl = await fake.start();
});

afterAll(() => fake.stop());

test('an API request through the node leaves from 127.0.0.2 when bound to it', async () => {
  const egress = createEgress({ localAddress: '127.0.0.2' });
  expect(egress.describe()).toBe('direct from 127.0.0.2');
  const node = await startNode(fakeUrl, { auth: oauthAuth(fake, 'max-1'), egress });
  try {
    expect((await call(node, { body: fakeMessagesBody() })).status).toBe(200);
    expect(fake.requests.at(-1)!.remoteAddress).toBe('127.0.0.2');
  } finally {
    await node.close();
  }
});

test('without a local address the host default (127.0.0.1 on loopback) is used', async () => {
  const egress = createEgress();
  const res = await new Promise<number>((resolve, reject) => {
    const req = http.request(`${fakeUrl}/v1/models`, { agent: egress.agentFor(new URL(fakeUrl)) }, (r) => {
      r.resume();
      resolve(r.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
  egress.destroy();
  expect(res).toBe(400); // no anthropic-version: the fake refuses, but it saw the connection
  expect(fake.requests.at(-1)!.remoteAddress).toBe('127.0.0.1');
});
