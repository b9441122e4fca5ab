// One tunnel after its 101: this node serves HTTP/2 on the socket (Node's nghttp2), the gateway is the client.
// It opens a state stream (answered by the state reports) and one connection stream per client request
// (handed to the node's ordinary HTTP/1.1 server as if it were a socket).
import type { Server } from 'node:http';
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import {
  CONNECTION_STREAM_PATH,
  guardEmptyWrites,
  STATE_STREAM_PATH,
  TunnelHeaders,
  parseReplicas,
  type Logger,
} from '@switchyard/shared';
import type { ReplicaInfo } from './tunnel-dial.js';

/** Why a tunnel ended. */
export type TunnelEnd = 'closed' | 'goaway' | 'ping_timeout' | 'error' | 'shutdown';

export interface TunnelSessionDeps {
  /** The upgraded socket and whatever arrived with the 101 (the gateway's first HTTP/2 bytes). */
  socket: Duplex;
  head: Buffer;
  /** Answers the gateway's state stream. */
  onStateStream(stream: ServerHttp2Stream): void;
  /** The node's HTTP/1.1 server for client requests (never listening: it only gets connection streams). */
  connections: Server;
  /** A replica list the gateway sent on a state stream's request headers (a fresher list than the 101's). */
  onReplicas?(replicas: ReplicaInfo[]): void;
  log: Logger;
  pingIntervalMs: number;
  pingTimeoutMs: number;
}

/** A served tunnel. */
export interface TunnelSession {
  /** Resolves once the session has closed, with the first reason it went away (a GOAWAY comes before the close). */
  readonly gone: Promise<TunnelEnd>;
  /** Resolves once the session has closed. */
  readonly closed: Promise<void>;
  /** GOAWAY: streams running finish, no new ones; destroyed if still open after graceMs. */
  close(graceMs: number): Promise<void>;
  destroy(): void;
  /** Connection streams open now. */
  readonly activeStreams: number;
}

// What a peer may make this node hold: request bodies are bounded by MAX_BODY_BYTES, streams by the gateway.
const SESSION_OPTIONS: http2.ServerOptions = {
  maxSessionMemory: 64,
  settings: { initialWindowSize: 1 << 20, enablePush: false },
};
const SESSION_WINDOW = 16 << 20;
// The encoding Writable gives a Buffer chunk; not a BufferEncoding, but what the stream's write path expects with one.

function pathOf(headers: IncomingHttpHeaders): string {
  const path = headers[':path'] ?? '';
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

function single(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Serves HTTP/2 on an upgraded socket. The session pings the gateway every pingIntervalMs and is destroyed when a
 * ping goes unanswered for pingTimeoutMs (a dead peer, a silently dropped connection).
 * @example
 * const session = serveTunnel({ socket, head, onStateStream: reports.attach, connections, log, pingIntervalMs, pingTimeoutMs });
 * const why = await session.gone;
 */
export function serveTunnel(deps: TunnelSessionDeps): TunnelSession {
  const { socket, log } = deps;
  if (deps.head.length > 0) socket.unshift(deps.head);
  // performServerHandshake, not createServer().emit('connection'): the server path refuses a TLS socket
  // without ALPN h2, and this socket negotiated HTTP/1.1 before the upgrade.
  const session: ServerHttp2Session = http2.performServerHandshake(socket, SESSION_OPTIONS);
  let end: TunnelEnd | undefined;
  let active = 0;
  let pingDeadline: NodeJS.Timeout | undefined;
  let resolveGone: (why: TunnelEnd) => void = () => undefined;
  const gone = new Promise<TunnelEnd>((resolve) => (resolveGone = resolve));
  const closed = new Promise<void>((resolve) => session.once('close', resolve));
  // The socket first: a session destroyed after close() (GOAWAY sent, a stream still open) never finishes closing
  // on Node 20 — no 'close', the socket stays open. Destroying the socket first always ends it.
  const cut = (): void => {
    socket.destroy();
    session.destroy();
  };
  const markGone = (why: TunnelEnd): void => {
    end ??= why;
    resolveGone(end);
  };

  const pingTimer = setInterval(() => {
    if (pingDeadline !== undefined || session.destroyed) return;
    pingDeadline = setTimeout(() => {
      log.warn('tunnel ping unanswered', { timeoutMs: deps.pingTimeoutMs });
      markGone('ping_timeout');
      cut();
    }, deps.pingTimeoutMs).unref();
    try {
      session.ping((err) => {
        if (err) return;
        clearTimeout(pingDeadline);
        pingDeadline = undefined;
      });
    } catch {
      // A session closing under us: its close handler clears the timers.
    }
  }, deps.pingIntervalMs).unref();

  session.on('error', (err: NodeJS.ErrnoException) => {
    log.debug('tunnel session error', { errorCode: err.code, reason: err.message });
    markGone('error');
  });
  // This session's state streams: ended on a GOAWAY, so the session closes once the client requests on it are done.
  const stateStreams = new Set<ServerHttp2Stream>();
  session.once('goaway', () => {
    markGone('goaway');
    for (const stream of stateStreams) if (!stream.destroyed) stream.end();
  });
  session.once('close', () => {
    clearInterval(pingTimer);
    clearTimeout(pingDeadline);
    markGone('closed');
  });
  session.once('connect', () => {
    try {
      session.setLocalWindowSize(SESSION_WINDOW);
    } catch {
      // Only a larger receive window for big request bodies; the default still works.
    }
  });

  session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const path = pathOf(headers);
    if (path === CONNECTION_STREAM_PATH && headers[':method'] === 'POST') {
      active += 1;
      stream.once('close', () => (active -= 1));
      stream.respond({ ':status': 200 });
      deps.connections.emit('connection', guardEmptyWrites(stream));
      return;
    }
    if (path === STATE_STREAM_PATH && headers[':method'] === 'GET') {
      const ids = single(headers[TunnelHeaders.replicas]);
      if (ids !== undefined) deps.onReplicas?.(parseReplicas(ids, single(headers[TunnelHeaders.replicaUrls])));
      stateStreams.add(stream);
      stream.once('close', () => stateStreams.delete(stream));
      deps.onStateStream(stream);
      return;
    }
    stream.on('error', () => undefined);
    stream.respond({ ':status': 404 }, { endStream: true });
  });

  return {
    gone,
    closed,
    async close(graceMs) {
      if (session.destroyed) return;
      markGone('shutdown');
      const deadline = setTimeout(cut, graceMs).unref();
      session.close();
      await closed;
      clearTimeout(deadline);
    },
    destroy() {
      markGone('shutdown');
      cut();
    },
    get activeStreams() {
      return active;
    },
  };
}
