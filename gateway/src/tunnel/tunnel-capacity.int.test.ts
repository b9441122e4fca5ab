// A node's tunnel carries as many open streams as clients hold (Claude Code keeps an SSE stream open per turn):
// more than a thousand at once on one session must all open. docs/MEASURED.md §4: a cap below the peak made streams wait.
import { request } from 'node:http';
import { createServer, type ServerResponse } from 'node:http';
import { startTestGateway, type TestGateway } from '../proxy/test-harness.js';
import { dialGateway, type TestNodePeer } from './test-harness.js';
import { waitFor } from '@switchyard/testkit';

jest.setTimeout(60_000);

const STREAMS = 1_200;
let gw: TestGateway;
let peer: TestNodePeer | undefined;
const held: ServerResponse[] = [];
const server = createServer((req, res) => {
  req.resume();
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write('event: ping\ndata: {"type":"ping"}\n\n');
  held.push(res);
});

beforeAll(async () => {
  gw = await startTestGateway();
});
afterAll(async () => {
  for (const res of held) res.end();
  peer?.destroy();
  server.closeAllConnections();
  await gw.stop();
});

it(`opens ${STREAMS} concurrent streams on one node's tunnel`, async () => {
  const created = await gw.redis.enrolments.create('node-a');
  const dialled = await dialGateway(gw.url, { nodeId: 'node-a', token: created!.token, server });
  if (!dialled.ok) throw new Error(`refused: ${dialled.status}`);
  peer = dialled.peer;
  await waitFor('one node reporting', () => gw.hub.reports().length === 1);
  const { hostname, port } = new URL(gw.url);
  let opened = 0;
  const failures: string[] = [];
  for (let i = 0; i < STREAMS; i++) {
    const req = request(
      {
        hostname,
        port,
        path: '/v1/messages',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
        agent: false,
      },
      (res) => {
        if (res.statusCode === 200) opened++;
        else failures.push(String(res.statusCode));
        res.resume();
      },
    );
    req.on('error', (err) => failures.push(err.message));
    req.end('{"model":"claude-sonnet-4-6","max_tokens":5,"stream":true,"messages":[{"role":"user","content":"hi"}]}');
  }
  await waitFor('every stream to open or fail', () => opened + failures.length === STREAMS, 40_000);
  expect(failures).toEqual([]);
  expect(held).toHaveLength(STREAMS);
});
