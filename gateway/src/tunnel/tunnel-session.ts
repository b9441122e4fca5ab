// One node tunnel on this gateway: the HTTP/2 client session on an upgraded socket, its PINGs and the
// state stream the node reports on.
import http2, {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  type IncomingHttpHeaders,
  type IncomingHttpStatusHeader,
} from 'node:http2';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { CONNECTION_STREAM_PATH, guardEmptyWrites, type Logger, type NodeReport } from '@switchyard/shared';
import { cancelByHalfClose } from './half-close-cancel.js';
import { openStateStream } from './state-stream.js';

/** Who is on the other end, as the upgrade established it. */
export interface TunnelIdentity {
  nodeId: string;
  /** The node process (x-switchyard-instance). */
  instance: string;
  /** The digest of the token the node joined with: a rotation or revocation ends the tunnel. */
  tokenDigest: string;
  /** The peer's address, for log lines. */
  remote: string | undefined;
}

export interface TunnelSessionOptions {
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** Extra request headers of the state stream (the replica list). */
  stateHeaders: Readonly<Record<string, string>>;
  log: Logger;
  /** Each valid report from the node, in order. */
  onReport(report: NodeReport): void;
  /** The session stopped taking new streams (GOAWAY either way) or closed. Called more than once. */
  onChange(): void;
  /** The session is gone; called once, with why. */
  onEnd(reason: string): void;
}

/** A live tunnel. */
export interface TunnelSession extends TunnelIdentity {
  readonly openedAt: number;
  /** Whether it takes new streams (not closing, not destroyed). */
  live(): boolean;
  /** Opens a fresh state stream with these headers (a new replica list); the old one goes once the node answered. */
  announce(stateHeaders: Readonly<Record<string, string>>): void;
  /**
   * A stream that the node's HTTP server takes as one connection: write one HTTP/1.1 request on it.
   * Throws when the session takes no new streams. The stream errors (ECONNREFUSED) if the node refuses it.
   */
  openConnection(): ClientHttp2Stream;
  /** GOAWAY: streams in flight finish, no new ones start; destroyed after `graceMs` if they have not. Resolves once closed. */
  close(reason: string, graceMs: number): Promise<void>;
  /** Ends it at once (RST on every stream). */
  destroy(reason: string): void;
}

// Receiving side: room for many concurrent streams before a WINDOW_UPDATE (each stream keeps the default 64 KiB).
const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;
// nghttp2's memory budget per session (MB): open SSE streams each hold buffers.
const MAX_SESSION_MEMORY_MB = 128;
const ORIGIN = 'http://node.tunnel.invalid';

function refusedError(status: unknown): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`the node refused the connection stream (status ${String(status)})`);
  err.code = 'ECONNREFUSED';
  return err;
}

/**
 * Becomes the HTTP/2 client on `socket` (the 101 answer is already written) and opens the state stream.
 * @example
 * const tunnel = openTunnelSession(socket, head, identity, { pingIntervalMs, pingTimeoutMs, stateHeaders, log, onReport, onChange, onEnd });
 */
export function openTunnelSession(
  socket: Duplex,
  head: Buffer,
  identity: TunnelIdentity,
  opts: TunnelSessionOptions,
): TunnelSession {
  return new GatewayTunnelSession(socket, head, identity, opts);
}

/** The HTTP/2 client session on a node's upgraded socket. */
function connectOver(socket: Duplex, head: Buffer): ClientHttp2Session {
  if (socket instanceof Socket) {
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.setKeepAlive(true, 30_000);
  }
  if (head.length > 0) socket.unshift(head);
  return http2.connect(ORIGIN, {
    createConnection: () => socket,
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
    peerMaxConcurrentStreams: 1000,
    settings: { enablePush: false },
  });
}

/** One node's tunnel: the session, its PINGs, its state streams and how it ended. */
class GatewayTunnelSession implements TunnelSession {
  readonly nodeId: string;
  readonly instance: string;
  readonly tokenDigest: string;
  readonly remote: string | undefined;
  readonly openedAt: number;
  readonly #socket: Duplex;
  readonly #session: ClientHttp2Session;
  readonly #opts: TunnelSessionOptions;
  readonly #closed: Promise<void>;
  readonly #pinger: NodeJS.Timeout;
  #endReason: string | undefined;
  #ended = false;
  #pingOutstanding = false;
  readonly #retired = new WeakSet<ClientHttp2Stream>();
  readonly #stateStreams = new Set<ClientHttp2Stream>();
  #malformedLogged = false;

  constructor(socket: Duplex, head: Buffer, identity: TunnelIdentity, opts: TunnelSessionOptions) {
    this.nodeId = identity.nodeId;
    this.instance = identity.instance;
    this.tokenDigest = identity.tokenDigest;
    this.remote = identity.remote;
    this.#socket = socket;
    this.#opts = opts;
    const session = connectOver(socket, head);
    this.#session = session;
    this.openedAt = Date.now();
    // Node 20: session.close() then destroy() with a stream still open may never emit the session's 'close'; the
    // socket's 'close' settles it too.
    this.#closed = new Promise<void>((resolve) => {
      session.once('close', resolve);
      socket.once('close', resolve);
    });
    this.#listen();
    // 1. Liveness: a PING that is not acknowledged in time ends the tunnel (also one closing: its streams wait on it).
    this.#pinger = setInterval(() => this.#ping(), opts.pingIntervalMs);
    this.#pinger.unref();
    // 2. The state stream: NodeReport lines; a report naming another node ends the tunnel. A newer one (opened
    //    to tell the node a new replica list) replaces it once the node answered; the old one is then retired.
    this.#openState(opts.stateHeaders);
  }

  live(): boolean {
    return !this.#session.closed && !this.#session.destroyed && this.#endReason === undefined;
  }

  announce(headers: Readonly<Record<string, string>>): void {
    if (this.live()) this.#openState(headers);
  }

  openConnection(): ClientHttp2Stream {
    if (!this.live()) throw refusedError('closed');
    const stream = this.#session.request({ ':method': 'POST', ':path': CONNECTION_STREAM_PATH }, { endStream: false });
    stream.once('response', (headers: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
      if (headers[':status'] !== 200) stream.destroy(refusedError(headers[':status']));
    });
    return cancelByHalfClose(guardEmptyWrites(stream));
  }

  async close(reason: string, graceMs: number): Promise<void> {
    const session = this.#session;
    this.#end(reason, false);
    // The state stream never ends on its own: without closing it, the session would wait the whole grace.
    this.#retireAll();
    if (!session.closed && !session.destroyed) session.close();
    // The socket first: destroying only the session after close() can leave it open (Node 20).
    const timer = setTimeout(() => {
      this.#socket.destroy();
      session.destroy();
    }, graceMs);
    timer.unref();
    await this.#closed;
    clearTimeout(timer);
  }

  destroy(reason: string): void {
    this.#end(reason, true);
  }

  // The first reason wins; from then on the tunnel takes no new streams, and the hub hears of it at once.
  #end(reason: string, destroy: boolean): void {
    if (this.#endReason === undefined) {
      this.#endReason = reason;
      this.#opts.onChange();
    }
    if (destroy && !this.#session.destroyed) this.#session.destroy();
  }

  #listen(): void {
    const session = this.#session;
    session.on('connect', () => {
      try {
        session.setLocalWindowSize(SESSION_WINDOW_BYTES);
      } catch {
        // The session already closed.
      }
    });
    session.on('error', (err: NodeJS.ErrnoException) => this.#end(`session error (${err.code ?? err.message})`, false));
    session.on('goaway', () => {
      this.#end('the node closed the tunnel', false);
      // The requests in flight may finish; the state stream would hold the session open for nothing.
      this.#retireAll();
    });
    session.once('close', () => this.#sessionClosed());
    // The socket closing or half-closing under us (node killed, network gone) ends the session too.
    this.#socket.once('close', () => this.#end('connection closed', true));
    this.#socket.once('end', () => this.#end('connection closed', true));
  }

  #sessionClosed(): void {
    clearInterval(this.#pinger);
    if (this.#ended) return;
    this.#ended = true;
    this.#opts.onChange();
    this.#opts.onEnd(this.#endReason ?? 'connection closed');
  }

  #ping(): void {
    const session = this.#session;
    const { pingTimeoutMs } = this.#opts;
    if (this.#pingOutstanding || session.destroyed) return;
    this.#pingOutstanding = true;
    const deadline = setTimeout(() => this.#end(`no PING answer within ${pingTimeoutMs} ms`, true), pingTimeoutMs);
    deadline.unref();
    const sent = session.ping((err) => {
      clearTimeout(deadline);
      this.#pingOutstanding = false;
      if (err && !session.destroyed) this.#opts.log.debug('tunnel ping failed', { nodeId: this.nodeId, err });
    });
    if (!sent) {
      clearTimeout(deadline);
      this.#pingOutstanding = false;
    }
  }

  #openState(headers: Readonly<Record<string, string>>): ClientHttp2Stream {
    const stream: ClientHttp2Stream = openStateStream(this.#session, headers, {
      onOpen: () => this.#stateOpened(stream),
      onReport: (report) => this.#stateReported(stream, report),
      onMalformed: (problem) => this.#stateMalformed(problem),
      onViolation: (reason) => this.#end(reason, true),
      onClose: () => this.#stateClosed(stream),
    });
    this.#stateStreams.add(stream);
    return stream;
  }

  #stateOpened(stream: ClientHttp2Stream): void {
    if (this.#retired.has(stream)) return;
    for (const other of this.#stateStreams) if (other !== stream) this.#retire(other);
  }

  #stateReported(stream: ClientHttp2Stream, report: NodeReport): void {
    if (this.#retired.has(stream)) return;
    if (report.nodeId !== this.nodeId) {
      this.#opts.log.warn('node report names another node; tunnel closed', {
        nodeId: this.nodeId,
        reportedNodeId: report.nodeId,
      });
      return this.#end('report named another node', true);
    }
    this.#opts.onReport(report);
  }

  #stateMalformed(problem: string): void {
    if (!this.#malformedLogged) this.#opts.log.warn('node report malformed; skipped', { nodeId: this.nodeId, problem });
    this.#malformedLogged = true;
  }

  #stateClosed(stream: ClientHttp2Stream): void {
    this.#stateStreams.delete(stream);
    // Once the tunnel is closing (either side's GOAWAY), the state stream may end before the requests in flight.
    if (!this.#retired.has(stream) && this.live() && this.#stateStreams.size === 0)
      this.#end('state stream ended', true);
  }

  #retire(stream: ClientHttp2Stream): void {
    this.#retired.add(stream);
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }

  #retireAll(): void {
    for (const stream of this.#stateStreams) this.#retire(stream);
  }
}
