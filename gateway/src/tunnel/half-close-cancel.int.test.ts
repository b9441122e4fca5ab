// A connection stream given up on by node:http, against a real HTTP/2 server on loopback standing in for the node:
// it is half-closed, never reset from our end, and closes as soon as the server resets it; an upload cut short is
// reset at once. The grace is an hour here, so a stream that waited for it would never close and the test fail.
import http2, { type ClientHttp2Session, type Http2Server, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { waitFor } from '@switchyard/testkit';
import { cancelByHalfClose } from './half-close-cancel.js';

const HOUR_MS = 3_600_000;

interface Seen {
  /** Our end half-closed it (END_STREAM). */
  ended: boolean;
  /** Our end reset it: aborted before any END_STREAM (the server's own reset after one does not count). */
  resetByClient: boolean;
  bytes: number;
}

let server: Http2Server;
let client: ClientHttp2Session;
const seen: Seen[] = [];

beforeAll(async () => {
  server = http2.createServer();
  server.on('stream', (stream: ServerHttp2Stream) => {
    const s: Seen = { ended: false, resetByClient: false, bytes: 0 };
    seen.push(s);
    stream.on('error', () => undefined);
    stream.on('aborted', () => (s.resetByClient ||= !s.ended));
    stream.on('data', (chunk: Buffer) => (s.bytes += chunk.length));
    // As the node does: its peer ended the stream before the answer did, so it resets it.
    stream.once('end', () => {
      s.ended = true;
      if (!stream.writableEnded) stream.destroy();
    });
    stream.respond({ ':status': 200 });
    stream.write('first bytes');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(async () => {
  client.close();
  await new Promise((resolve) => server.close(resolve));
});

function open() {
  const stream = cancelByHalfClose(client.request({ ':method': 'POST', ':path': '/' }, { endStream: false }), HOUR_MS);
  stream.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => stream.once('close', resolve));
  return { stream, closed };
}

it('half-closes a stream given up on, and it closes when the server resets it (no reset from this end)', async () => {
  const { stream, closed } = open();
  await new Promise((resolve) => stream.once('response', resolve));
  stream.destroy();
  // node:http destroys more than once; the later calls wait like the first.
  stream.destroy();
  await closed;
  const s = seen.at(-1);
  expect(s).toMatchObject({ ended: true, resetByClient: false });
  expect(client.destroyed).toBe(false);
});

it('resets at once when request bytes are still queued (an upload cut short sends no more of its body)', async () => {
  const { stream, closed } = open();
  await new Promise((resolve) => stream.once('response', resolve));
  stream.write(Buffer.alloc(8 * 1024 * 1024));
  expect(stream.writableLength).toBeGreaterThan(0);
  stream.destroy();
  await closed;
  await waitFor('the server saw the reset', () => seen.at(-1)?.resetByClient === true, 10_000);
  expect(seen.at(-1)?.bytes ?? 0).toBeLessThan(8 * 1024 * 1024);
});

it('destroys at once a stream destroyed with an error, as before', async () => {
  const { stream, closed } = open();
  await new Promise((resolve) => stream.once('response', resolve));
  stream.destroy(new Error('parse failure'));
  await closed;
  await waitFor('the server saw the reset', () => seen.at(-1)?.resetByClient === true, 10_000);
});
