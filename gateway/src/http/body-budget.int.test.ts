// The in-flight body budget against real requests on a loopback server: what is taken is always given back,
// one key cannot take it all, and a client gone before its body was read leaves nothing held.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { BodyBudget, holdBody } from './body-budget.js';
import { waitFor } from '@switchyard/testkit';

interface Seen {
  outcome: string;
  heldDuring: number;
}

/** A server whose handler claims each body for key 'k', optionally waits (as authentication may), then reads it. */
async function serve(
  budget: BodyBudget,
  opts: { maxBytes: number; before?: (req: http.IncomingMessage) => Promise<void> },
): Promise<{ port: number; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const server = http.createServer((req, res) => {
    void (async () => {
      await opts.before?.(req);
      let hold;
      try {
        hold = holdBody(req, opts.maxBytes, budget, req.headers['x-key'] as string);
      } catch (err) {
        seen.push({ outcome: (err as { code: string }).code, heldDuring: budget.held });
        res.writeHead(503).end();
        return;
      }
      try {
        const body = await hold.read();
        seen.push({ outcome: `read ${body.length}`, heldDuring: budget.held });
        res.writeHead(200).end();
      } catch (err) {
        seen.push({ outcome: (err as { code?: string }).code ?? 'gone', heldDuring: budget.held });
        if (!res.destroyed) res.writeHead(503).end();
      } finally {
        hold.release();
      }
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('BodyBudget', () => {
  it('holds at most its limit in all and its per-key share for one key, and refuses to give back more than was taken', () => {
    const budget = new BodyBudget(100, 60);
    expect(budget.tryTake('a', 60)).toBe(true);
    expect(budget.tryTake('a', 1)).toBe(false);
    expect(budget.tryTake('b', 41)).toBe(false);
    expect(budget.tryTake('b', 40)).toBe(true);
    expect(budget.held).toBe(100);
    budget.give('a', 60);
    expect(budget.heldBy('a')).toBe(0);
    expect(() => budget.give('a', 1)).toThrow(RangeError);
    budget.give('b', 40);
    expect(budget.held).toBe(0);
  });
});

describe('holdBody', () => {
  it('gives back a declared body once it was read, and a chunked one too', async () => {
    const budget = new BodyBudget(1_000_000, 1_000_000);
    const srv = await serve(budget, { maxBytes: 100_000 });
    try {
      for (const chunked of [false, true]) {
        const body = Buffer.alloc(50_000, 0x61);
        const res = await fetch(`http://127.0.0.1:${srv.port}/`, {
          method: 'POST',
          headers: { 'x-key': 'k' },
          body: chunked ? new Blob([body]).stream() : body,
          ...(chunked ? { duplex: 'half' } : {}),
        });
        expect(res.status).toBe(200);
      }
      expect(srv.seen.map((s) => s.outcome)).toEqual(['read 50000', 'read 50000']);
      expect(srv.seen[0]?.heldDuring).toBe(50_000);
      expect(budget.held).toBe(0);
    } finally {
      await srv.close();
    }
  });

  it('leaves nothing held when the client hung up before its body was read', async () => {
    const budget = new BodyBudget(64 * 1024 * 1024, 64 * 1024 * 1024);
    let arrived!: () => void;
    const here = new Promise<void>((r) => (arrived = r));
    // The handler waits (as for a key lookup) until the client is gone, then claims and reads the body.
    const srv = await serve(budget, {
      maxBytes: 32 * 1024 * 1024,
      before: (req) =>
        new Promise<void>((resolve) => {
          req.once('close', () => resolve());
          arrived();
        }),
    });
    try {
      const socket = net.connect(srv.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await new Promise<void>((r) => socket.once('connect', () => r()));
      socket.write('POST / HTTP/1.1\r\nhost: x\r\nx-key: k\r\ncontent-length: 33554432\r\n\r\n');
      await here;
      socket.destroy();
      await waitFor('the upstream to see the request', () => srv.seen.length === 1);
      expect(srv.seen[0]?.outcome).toBe('gone');
      expect(budget.held).toBe(0);
    } finally {
      await srv.close();
    }
  });
});
