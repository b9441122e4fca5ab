// The worker's one listener: /health for the image's health check (no token, no data; 503 once it stops),
// /metrics behind its token, 404 for anything else.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetricsHandler } from '@switchyard/shared';
import { createWorkerListener } from './listener.js';

const TOKEN = 'metrics-token-'.padEnd(40, 'x');

let server: http.Server;
let base: string;
let stopping = false;

beforeAll(async () => {
  const metrics = createMetricsHandler({
    source: { contentType: 'text/plain', metrics: () => Promise.resolve('switchyard_up 1\n') },
    token: TOKEN,
  });
  server = http.createServer(
    createWorkerListener({ metrics, version: '1.2.3', gitSha: 'abc1234', stopping: () => stopping }),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

test('GET /health answers without the token with the build only; 503 stopping once the worker closes', async () => {
  const ok = await fetch(`${base}/health`);
  expect(ok.status).toBe(200);
  expect(await ok.json()).toEqual({ status: 'ok', version: '1.2.3', gitSha: 'abc1234' });
  stopping = true;
  const closing = await fetch(`${base}/health?probe=1`);
  expect(closing.status).toBe(503);
  expect(await closing.json()).toEqual({ status: 'stopping', version: '1.2.3', gitSha: 'abc1234' });
  stopping = false;
});

test('/metrics keeps its token; other paths and methods are 404', async () => {
  expect((await fetch(`${base}/metrics`)).status).toBe(401);
  expect(await (await fetch(`${base}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })).text()).toBe(
    'switchyard_up 1\n',
  );
  expect((await fetch(`${base}/healthz`)).status).toBe(404);
  expect((await fetch(`${base}/health`, { method: 'POST' })).status).toBe(404);
});
