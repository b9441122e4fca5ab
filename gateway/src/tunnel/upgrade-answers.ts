// The raw HTTP/1.1 answers to a tunnel's upgrade request: after 'upgrade' the socket is ours, so the
// status line and headers are written by hand.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { TUNNEL_UPGRADE, TunnelRefusal } from '@switchyard/shared';

/** Why an upgrade was refused (a TunnelRefusal key), or 'not_found' for an upgrade to another path. */
export type RefusalReason = keyof typeof TunnelRefusal | 'not_found';

const NOT_FOUND = { status: 404, code: 'not_found' } as const;

function headerLines(headers: Readonly<Record<string, string>>): string {
  let out = '';
  for (const [name, value] of Object.entries(headers)) out += `${name}: ${value}\r\n`;
  return out;
}

/**
 * Answers with the refusal's status and `{ error: { code, message } }`, then closes the socket once the
 * answer is out (destroyed after 5 s if the peer never reads it).
 */
export function refuseUpgrade(socket: Duplex, reason: RefusalReason, message: string): void {
  if (socket.destroyed) return;
  const { status, code } = reason === 'not_found' ? NOT_FOUND : TunnelRefusal[reason];
  const body = JSON.stringify({ error: { code, message } });
  const head = headerLines({
    'Content-Type': 'application/json',
    'Content-Length': String(Buffer.byteLength(body)),
    Connection: 'close',
  });
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${head}\r\n${body}`);
  setTimeout(() => socket.destroy(), 5_000).unref();
}

/** The 101 answer: from the next byte on, the socket carries HTTP/2. */
export function switchingProtocols(socket: Duplex, headers: Readonly<Record<string, string>>): void {
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${TUNNEL_UPGRADE}\r\n${headerLines(headers)}\r\n`,
  );
}
