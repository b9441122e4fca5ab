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
  return new ServedTunnel(deps);
}

/** One tunnel this node serves: the HTTP/2 session, its PINGs, its streams and the first reason it went away. */
class ServedTunnel implements TunnelSession {
  readonly gone: Promise<TunnelEnd>;
  readonly closed: Promise<void>;
  readonly #deps: TunnelSessionDeps;
  readonly #socket: Duplex;
  readonly #session: ServerHttp2Session;
  readonly #pingTimer: NodeJS.Timeout;
  // This session's state streams: ended on a GOAWAY, so the session closes once the client requests on it are done.
  readonly #stateStreams = new Set<ServerHttp2Stream>();
  #end: TunnelEnd | undefined;
  #active = 0;
  #pingDeadline: NodeJS.Timeout | undefined;
  #resolveGone: (why: TunnelEnd) => void = () => undefined;

  constructor(deps: TunnelSessionDeps) {
    const { socket } = deps;
    this.#deps = deps;
    this.#socket = socket;
    if (deps.head.length > 0) socket.unshift(deps.head);
    // performServerHandshake, not createServer().emit('connection'): the server path refuses a TLS socket
    // without ALPN h2, and this socket negotiated HTTP/1.1 before the upgrade.
    const session: ServerHttp2Session = http2.performServerHandshake(socket, SESSION_OPTIONS);
    this.#session = session;
    this.gone = new Promise<TunnelEnd>((resolve) => (this.#resolveGone = resolve));
    this.closed = new Promise<void>((resolve) => session.once('close', resolve));
    this.#pingTimer = setInterval(() => this.#ping(), deps.pingIntervalMs).unref();
    this.#listen();
  }

  get activeStreams(): number {
    return this.#active;
  }

  async close(graceMs: number): Promise<void> {
    if (this.#session.destroyed) return;
    this.#markGone('shutdown');
    const deadline = setTimeout(() => this.#cut(), graceMs).unref();
    this.#session.close();
    await this.closed;
    clearTimeout(deadline);
  }

  destroy(): void {
    this.#markGone('shutdown');
    this.#cut();
  }

  // The socket first: a session destroyed after close() (GOAWAY sent, a stream still open) never finishes closing
  // on Node 20 — no 'close', the socket stays open. Destroying the socket first always ends it.
  #cut(): void {
    this.#socket.destroy();
    this.#session.destroy();
  }

  #markGone(why: TunnelEnd): void {
    this.#end ??= why;
    this.#resolveGone(this.#end);
  }

  #ping(): void {
    if (this.#pingDeadline !== undefined || this.#session.destroyed) return;
    this.#pingDeadline = setTimeout(() => this.#pingUnanswered(), this.#deps.pingTimeoutMs).unref();
    try {
      this.#session.ping((err) => {
        if (err) return;
        clearTimeout(this.#pingDeadline);
        this.#pingDeadline = undefined;
      });
    } catch {
      // A session closing under us: its close handler clears the timers.
    }
  }

  #pingUnanswered(): void {
    this.#deps.log.warn('tunnel ping unanswered', { timeoutMs: this.#deps.pingTimeoutMs });
    this.#markGone('ping_timeout');
    this.#cut();
  }

  #listen(): void {
    const session = this.#session;
    session.on('error', (err: NodeJS.ErrnoException) => {
      this.#deps.log.debug('tunnel session error', { errorCode: err.code, reason: err.message });
      this.#markGone('error');
    });
    session.once('goaway', () => {
      this.#markGone('goaway');
      for (const stream of this.#stateStreams) if (!stream.destroyed) stream.end();
    });
    session.once('close', () => {
      clearInterval(this.#pingTimer);
      clearTimeout(this.#pingDeadline);
      this.#markGone('closed');
    });
    session.once('connect', () => {
      try {
        session.setLocalWindowSize(SESSION_WINDOW);
      } catch {
        // Only a larger receive window for big request bodies; the default still works.
      }
    });
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => this.#stream(stream, headers));
  }

  #stream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const path = pathOf(headers);
    if (path === CONNECTION_STREAM_PATH && headers[':method'] === 'POST') return this.#connection(stream);
    if (path === STATE_STREAM_PATH && headers[':method'] === 'GET') return this.#state(stream, headers);
    stream.on('error', () => undefined);
    stream.respond({ ':status': 404 }, { endStream: true });
  }

  #connection(stream: ServerHttp2Stream): void {
    this.#active += 1;
    stream.once('close', this.#connectionClosed);
    stream.once('end', resetIfUnanswered);
    stream.respond({ ':status': 200 });
    this.#deps.connections.emit('connection', guardEmptyWrites(stream));
  }

  // One listener for every connection stream, rather than a closure per client request.
  readonly #connectionClosed = (): void => {
    this.#active -= 1;
  };

  #state(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const ids = single(headers[TunnelHeaders.replicas]);
    if (ids !== undefined) this.#deps.onReplicas?.(parseReplicas(ids, single(headers[TunnelHeaders.replicaUrls])));
    this.#stateStreams.add(stream);
    stream.once('close', () => this.#stateStreams.delete(stream));
    this.#deps.onStateStream(stream);
  }
}

/**
 * The gateway half-closed a connection stream (END_STREAM) before this node's answer ended: its client is gone
 * (gateway/src/tunnel/half-close-cancel.ts). The reset comes from this end, the server's, which nghttp2 does not
 * rate-limit, where the gateway's own resets would close the whole tunnel past ~33 a second. The stream closing
 * is the request's client leaving, so the call to Anthropic stops. After a whole answer the gateway's END_STREAM
 * is the ordinary close, and nothing is reset.
 */
function resetIfUnanswered(this: ServerHttp2Stream): void {
  if (!this.writableEnded && !this.destroyed) this.destroy();
}
