// A TCP peer that accepts and never says a word: a stuck proxy, a TLS server that never shakes hands.
import net, { type AddressInfo, type Socket } from 'node:net';

/** A silent server on loopback: its port, the sockets it accepted, the bytes it was sent, and close(). */
export interface SilentServer {
  port: number;
  sockets: Socket[];
  received(): number;
  /** Destroys every accepted socket and stops listening. */
  close(): Promise<void>;
}

/** Starts a server on 127.0.0.1 that accepts connections, reads what comes and never answers. */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets: Socket[] = [];
  let bytes = 0;
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    received: () => bytes,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
