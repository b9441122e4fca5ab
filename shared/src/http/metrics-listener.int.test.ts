// The metrics listener's start on real ports: it serves what it is given, says so for the start line, and a port
// already taken turns metrics off with one error line instead of failing the process.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { freePort, waitFor } from '@switchyard/testkit';
import { planMetrics } from '../config/metrics-exposure.js';
import { createLogger } from '../logging/create-logger.js';
import { createMetricsHandler } from './metrics-endpoint.js';
import { createMetricsEndpoint, startMetricsListener } from './metrics-listener.js';

function recordingLog() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as never);
      done();
    },
  });
  return { lines, log: createLogger({ service: 'test', stream }) };
}

const source = { contentType: 'text/plain; version=0.0.4', metrics: () => Promise.resolve('up 1\n') };
const handler = createMetricsHandler({ source });

async function portTaken(): Promise<{ port: number; close: () => Promise<unknown> }> {
  const taken = http.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  return {
    port: (taken.address() as AddressInfo).port,
    close: () => new Promise((resolve) => taken.close(resolve)),
  };
}

describe('createMetricsEndpoint', () => {
  const { log } = recordingLog();
  const TOKEN = 'm'.repeat(32);

  it('plans /metrics once: off, on the main listener behind METRICS_TOKEN, or on a port of its own', async () => {
    const off = createMetricsEndpoint({ port: 0, token: TOKEN, source, log });
    expect([off.exposure.where, off.handler, off.onMainListener]).toEqual(['off', undefined, undefined]);
    const own = createMetricsEndpoint({ port: 9464, token: undefined, source, log });
    expect([own.exposure.where, typeof own.handler, own.onMainListener]).toEqual(['own', 'function', undefined]);

    const main = createMetricsEndpoint({ port: undefined, token: TOKEN, source, log });
    expect(main.exposure.where).toBe('main');
    expect(main.onMainListener).toBe(main.handler);
    // The handler asks for the token: served on a throwaway server here, as the main listener would.
    const server = http.createServer((req, res) => main.handler?.(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`;
    expect((await fetch(url)).status).toBe(401);
    const scraped = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect([scraped.status, await scraped.text()]).toEqual([200, 'up 1\n']);
    await new Promise((resolve) => server.close(resolve));
  });
});

describe('startMetricsListener', () => {
  it('serves /metrics on a port of its own, 404 for the rest, and describes it for the start line', async () => {
    const { lines, log } = recordingLog();
    const port = await freePort();
    const exposure = planMetrics({ port, token: undefined });
    const { server, description } = await startMetricsListener({ exposure, handler, host: '127.0.0.1', log });
    expect(description).toBe(`http://127.0.0.1:${port}/metrics (no token: keep the port private to the scraper)`);
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect([res.status, await res.text()]).toEqual([200, 'up 1\n']);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    expect(lines).toEqual([]);
    await new Promise((resolve) => server?.close(resolve));
  });

  it('wraps the handler in the listener it is given (the usage worker adds /health)', async () => {
    const { log } = recordingLog();
    const port = await freePort();
    const { server } = await startMetricsListener({
      exposure: planMetrics({ port, token: undefined }),
      handler,
      listener: (metrics) => (req, res) => (req.url === '/health' ? res.end('ok') : metrics(req, res)),
      host: '127.0.0.1',
      log,
    });
    expect(await (await fetch(`http://127.0.0.1:${port}/health`)).text()).toBe('ok');
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toBe('up 1\n');
    await new Promise((resolve) => server?.close(resolve));
  });

  it('starts nothing when /metrics is off or on the main listener', async () => {
    const { log } = recordingLog();
    const off = await startMetricsListener({
      exposure: planMetrics({ port: 0, token: undefined }),
      handler: undefined,
      host: '127.0.0.1',
      log,
    });
    expect(off).toEqual({ server: undefined, description: 'off (METRICS_PORT=0)' });
    const main = await startMetricsListener({
      exposure: planMetrics({ port: undefined, token: 'm'.repeat(32) }),
      handler,
      host: '127.0.0.1',
      mainPort: 8080,
      log,
    });
    expect(main).toEqual({ server: undefined, description: 'http://127.0.0.1:8080/metrics (token: METRICS_TOKEN)' });
  });

  it('turns metrics off with one error line naming the fix when the port is taken', async () => {
    const taken = await portTaken();
    const { lines, log } = recordingLog();
    const listening = await startMetricsListener({
      exposure: planMetrics({ port: taken.port, token: undefined }),
      handler,
      host: '127.0.0.1',
      log,
    });
    expect(listening).toEqual({ server: undefined, description: 'off (its port could not be opened)' });
    await waitFor('the error line', () => lines.length > 0);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'metrics listener not started',
        port: taken.port,
        errorCode: 'EADDRINUSE',
        fix: 'set METRICS_PORT to a free port, or 0 to turn metrics off',
      }),
    ]);
    await taken.close();
  });
});
