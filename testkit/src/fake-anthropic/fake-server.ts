// The listener of the fake: start on a port, stop without waiting for open streams.
import type { Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FakeState } from './context.js';
import { errorEnvelope } from '@switchyard/shared';
import { handleRequest } from './request-handler.js';

/** Start/stop of one node:http server over the fake's state. */
export interface FakeServer {
  start(port: number, host: string): Promise<string>;
  stop(): Promise<void>;
  url(): string | undefined;
  /** Requests whose response has not closed yet (streams held open included). */
  openRequests(): number;
}

function formatUrl(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** Creates the (not yet listening) server. */
export function createFakeServer(state: FakeState): FakeServer {
  let server: Server | undefined;
  let baseUrl: string | undefined;
  // One controller per request in flight, so stop() can end paced streams and pending sleeps at once.
  const inflight = new Set<AbortController>();

  function serve(): Server {
    return createServer((req, res) => {
      const controller = new AbortController();
      inflight.add(controller);
      res.on('close', () => {
        inflight.delete(controller);
        controller.abort();
      });
      handleRequest(req, res, state, controller.signal).catch((error: unknown) => {
        if (res.headersSent) return void res.destroy();
        const message = error instanceof Error ? error.message : String(error);
        res.writeHead(500, { 'content-type': 'application/json' });
        res.end(JSON.stringify(errorEnvelope('api_error', `fake-anthropic: ${message}`, 'req_fake_internal')));
      });
    });
  }

  return {
    async start(port, host) {
      if (server) throw new Error('fake-anthropic: already started');
      const created = serve();
      await new Promise<void>((resolve, reject) => {
        created.once('error', reject);
        created.listen(port, host, () => {
          created.off('error', reject);
          resolve();
        });
      });
      server = created;
      baseUrl = formatUrl(created.address() as AddressInfo);
      return baseUrl;
    },
    async stop() {
      const running = server;
      if (!running) return;
      server = undefined;
      baseUrl = undefined;
      for (const controller of inflight) controller.abort();
      await new Promise<void>((resolve) => {
        running.close(() => resolve());
        // Open streams and hung token requests would keep close() waiting forever.
        running.closeAllConnections();
      });
    },
    url: () => baseUrl,
    openRequests: () => inflight.size,
  };
}
