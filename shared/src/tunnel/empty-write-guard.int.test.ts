// The Node HTTP/2 write bug the guard works around, shown on a real session: an HTTP/1.1 answer written
// on a stream arrives garbled without the guard and intact with it.
import { createServer, type Server } from 'node:http';
import http2, { type ClientHttp2Session, type Http2Server } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { guardEmptyWrites } from './empty-write-guard.js';

let h2: Http2Server;
let client: ClientHttp2Session;
let app: Server;
let guarded = false;

beforeAll(async () => {
  app = createServer((_req, res) => res.end('ok'));
  h2 = http2.createServer();
  h2.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    app.emit('connection', guarded ? guardEmptyWrites(stream) : stream);
  });
  await new Promise<void>((resolve) => h2.listen(0, '127.0.0.1', resolve));
  client = http2.connect(`http://127.0.0.1:${(h2.address() as AddressInfo).port}`);
});
afterAll(async () => {
  client.close();
  await new Promise((resolve) => h2.close(resolve));
});

/** One HTTP/1.1 exchange on a fresh stream: the raw answer bytes. */
function exchange(): Promise<string> {
  return new Promise((resolve, reject) => {
    const stream = client.request({ ':method': 'POST', ':path': '/' }, { endStream: false });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks).toString('latin1')));
    stream.on('error', reject);
    stream.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  });
}

describe('guardEmptyWrites', () => {
  // When this one fails, the Node in use has the bug fixed and the guard can go.
  it('is needed: node:http’s answer on an unguarded stream loses its status line (the Node bug)', async () => {
    guarded = false;
    expect(await exchange()).not.toMatch(/^HTTP\/1\.1 200 OK\r\n/);
  });

  it('keeps the bytes intact on a guarded stream', async () => {
    guarded = true;
    const raw = await exchange();
    expect(raw).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(raw.endsWith('\r\n\r\nok')).toBe(true);
  });
});
