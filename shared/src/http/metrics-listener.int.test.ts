// The metrics listener's start on real ports: it serves what it is given, and a port already taken turns
// metrics off with one error line instead of failing the process.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { waitFor } from '@switchyard/testkit';
import { createLogger } from '../logging/create-logger.js';
import { createMetricsHandler, metricsOnlyListener } from './metrics-endpoint.js';
import { startMetricsListener } from './metrics-listener.js';

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

describe('startMetricsListener', () => {
  it('serves the listener it is given on the port', async () => {
    const { lines, log } = recordingLog();
    const server = await startMetricsListener({
      listener: metricsOnlyListener(createMetricsHandler({ source })),
      port: 0,
      host: '127.0.0.1',
      log,
    });
    expect(server).toBeDefined();
    const { port } = server?.address() as AddressInfo;
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect([res.status, await res.text()]).toEqual([200, 'up 1\n']);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
    expect(lines).toEqual([]);
    await new Promise((resolve) => server?.close(resolve));
  });

  it('answers undefined and logs the fix when the port is taken', async () => {
    const taken = http.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    const { lines, log } = recordingLog();
    const server = await startMetricsListener({
      listener: metricsOnlyListener(createMetricsHandler({ source })),
      port,
      host: '127.0.0.1',
      log,
    });
    expect(server).toBeUndefined();
    await waitFor('the error line', () => lines.length > 0);
    expect(lines).toEqual([
      expect.objectContaining({
        level: 'error',
        message: 'metrics listener not started',
        port,
        errorCode: 'EADDRINUSE',
        fix: 'set METRICS_PORT to a free port, or 0 to turn metrics off',
      }),
    ]);
    await new Promise((resolve) => taken.close(resolve));
  });
});
