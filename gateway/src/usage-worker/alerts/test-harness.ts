// Test-only (the build leaves every test-harness.ts out): a webhook receiver on loopback that records every
// delivery it is sent and answers from a script (a status per attempt, or a hang that holds the connection open).
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: Record<string, string>;
  body: string;
  /** What it answered (undefined: it held the connection). */
  status: number | undefined;
}

export interface WebhookReceiver {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

/**
 * @param answer the status for the n-th delivery of a webhook-id (0-based), or 'hang' to never answer.
 */
export async function startReceiver(
  answer: (attemptOfId: number, id: string) => number | 'hang' = () => 200,
): Promise<WebhookReceiver> {
  const received: Received[] = [];
  const held = new Set<http.ServerResponse>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
      const id = headers['webhook-id'] ?? '';
      const attempt = received.filter((r) => r.headers['webhook-id'] === id).length;
      const status = answer(attempt, id);
      received.push({
        headers,
        body: Buffer.concat(chunks).toString('utf8'),
        status: status === 'hang' ? undefined : status,
      });
      if (status === 'hang') {
        held.add(res);
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
