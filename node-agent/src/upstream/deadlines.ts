import type { ClientRequest } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';

/**
 * How long a request to Anthropic may take before its response head (docs/EDGES.md, "Timeouts",
 * says why these numbers). The body after the head is never timed: a stream may run for a long time, and a dead
 * connection under it is found by the tunnel's own liveness and the client's hang-up.
 */
export interface UpstreamTimeouts {
  /** TCP and TLS to Anthropic, or to the egress proxy and through its CONNECT (UPSTREAM_CONNECT_TIMEOUT_MS). */
  connectMs: number;
  /** From the request going out on a connected socket to Anthropic's status line (UPSTREAM_HEADERS_TIMEOUT_MS). */
  headersMs: number;
}

/**
 * The defaults: 10 s to connect; 10 min for the head, because a non-streaming answer is only sent whole and may
 * take minutes — Anthropic's SDKs wait 10 min for one and refuse a non-streaming request expected to take longer.
 */
export const DEFAULT_UPSTREAM_TIMEOUTS: UpstreamTimeouts = { connectMs: 10_000, headersMs: 600_000 };

/** Which wait ran out: the connection (nothing reached Anthropic) or the response head (Anthropic may have the request). */
export type UpstreamTimeoutPhase = 'connect' | 'headers';

/** An upstream request given up on before its response head. */
export class UpstreamTimeoutError extends Error {
  override readonly name = 'UpstreamTimeoutError';
  readonly code = 'ETIMEDOUT';

  constructor(
    readonly phase: UpstreamTimeoutPhase,
    readonly timeoutMs: number,
  ) {
    super(
      phase === 'connect'
        ? `no connection to the upstream within ${timeoutMs} ms`
        : `no response head from the upstream within ${timeoutMs} ms`,
    );
  }
}

// A TLS socket can carry the request once its handshake is done: both Finished messages exchanged (each is
// undefined until then, as Node documents; getProtocol() is no guide, it names a version before the handshake).
function ready(socket: Socket): boolean {
  if (socket instanceof TLSSocket) return socket.getFinished() !== undefined && socket.getPeerFinished() !== undefined;
  return !socket.connecting;
}

/**
 * Times one upstream request's way to its response head: the connect timer runs from now until the socket can
 * carry the request (a reused keep-alive socket already can; through an egress proxy this includes reaching the
 * proxy and its CONNECT, which the agent finishes before handing over the socket, and then TLS to Anthropic);
 * the head timer runs from then until the response. Either running out calls `onTimeout` once (which is expected
 * to destroy the request); the response or the request's close stops the clock.
 */
export function timeUpstreamRequest(
  up: ClientRequest,
  timeouts: UpstreamTimeouts,
  onTimeout: (err: UpstreamTimeoutError) => void,
): void {
  let timer: NodeJS.Timeout | undefined;
  const arm = (phase: UpstreamTimeoutPhase, ms: number): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      onTimeout(new UpstreamTimeoutError(phase, ms));
    }, ms);
  };
  const stop = (): void => {
    clearTimeout(timer);
    timer = undefined;
  };
  const sending = (): void => {
    // Not once the clock has stopped or run out: a close or the connect timeout came first.
    if (timer !== undefined) arm('headers', timeouts.headersMs);
  };
  arm('connect', timeouts.connectMs);
  up.once('socket', (socket: Socket) => {
    if (up.reusedSocket || ready(socket)) return sending();
    socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', sending);
  });
  up.once('response', stop);
  up.once('close', stop);
}
