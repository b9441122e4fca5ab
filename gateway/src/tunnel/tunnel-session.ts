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
  if (socket instanceof Socket) {
    socket.setNoDelay(true);
    socket.setTimeout(0);
    socket.setKeepAlive(true, 30_000);
  }
  if (head.length > 0) socket.unshift(head);
  const session: ClientHttp2Session = http2.connect(ORIGIN, {
    createConnection: () => socket,
    maxSessionMemory: MAX_SESSION_MEMORY_MB,
    peerMaxConcurrentStreams: 1000,
    settings: { enablePush: false },
  });
  const openedAt = Date.now();
  let endReason: string | undefined;
  let ended = false;
  // Node 20: session.close() then destroy() with a stream still open may never emit the session's 'close'; the
  // socket's 'close' settles it too.
  const closed = new Promise<void>((resolve) => {
    session.once('close', resolve);
    socket.once('close', resolve);
  });

  // The first reason wins; from then on the tunnel takes no new streams, and the hub hears of it at once.
  function end(reason: string, destroy: boolean): void {
    if (endReason === undefined) {
      endReason = reason;
      opts.onChange();
    }
    if (destroy && !session.destroyed) session.destroy();
  }

  session.on('connect', () => {
    try {
      session.setLocalWindowSize(SESSION_WINDOW_BYTES);
    } catch {
      // The session already closed.
    }
  });
  session.on('error', (err: NodeJS.ErrnoException) => end(`session error (${err.code ?? err.message})`, false));
  session.on('goaway', () => {
    end('the node closed the tunnel', false);
    // The requests in flight may finish; the state stream would hold the session open for nothing.
    retireAll();
  });
  session.once('close', () => {
    clearInterval(pinger);
    if (ended) return;
    ended = true;
    opts.onChange();
    opts.onEnd(endReason ?? 'connection closed');
  });
  // The socket closing or half-closing under us (node killed, network gone) ends the session too.
  socket.once('close', () => end('connection closed', true));
  socket.once('end', () => end('connection closed', true));

  // 1. Liveness: a PING that is not acknowledged in time ends the tunnel (also one closing: its streams wait on it).
  let pingOutstanding = false;
  const pinger = setInterval(() => {
    if (pingOutstanding || session.destroyed) return;
    pingOutstanding = true;
    const deadline = setTimeout(() => end(`no PING answer within ${opts.pingTimeoutMs} ms`, true), opts.pingTimeoutMs);
    deadline.unref();
    const sent = session.ping((err) => {
      clearTimeout(deadline);
      pingOutstanding = false;
      if (err && !session.destroyed) opts.log.debug('tunnel ping failed', { nodeId: identity.nodeId, err });
    });
    if (!sent) {
      clearTimeout(deadline);
      pingOutstanding = false;
    }
  }, opts.pingIntervalMs);
  pinger.unref();

  // 2. The state stream: NodeReport lines; a report naming another node ends the tunnel. A newer one (opened
  //    to tell the node a new replica list) replaces it once the node answered; the old one is then retired.
  const live = (): boolean => !session.closed && !session.destroyed && endReason === undefined;
  const retired = new WeakSet<ClientHttp2Stream>();
  const stateStreams = new Set<ClientHttp2Stream>();
  let malformedLogged = false;
  function retire(stream: ClientHttp2Stream): void {
    retired.add(stream);
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_NO_ERROR);
  }
  function openState(headers: Readonly<Record<string, string>>): ClientHttp2Stream {
    const stream: ClientHttp2Stream = openStateStream(session, headers, {
      onOpen() {
        if (retired.has(stream)) return;
        for (const other of stateStreams) if (other !== stream) retire(other);
      },
      onReport(report) {
        if (retired.has(stream)) return;
        if (report.nodeId !== identity.nodeId) {
          opts.log.warn('node report names another node; tunnel closed', {
            nodeId: identity.nodeId,
            reportedNodeId: report.nodeId,
          });
          return end('report named another node', true);
        }
        opts.onReport(report);
      },
      onMalformed(problem) {
        if (!malformedLogged) opts.log.warn('node report malformed; skipped', { nodeId: identity.nodeId, problem });
        malformedLogged = true;
      },
      onViolation: (reason) => end(reason, true),
      onClose() {
        stateStreams.delete(stream);
        // Once the tunnel is closing (either side's GOAWAY), the state stream may end before the requests in flight.
        if (!retired.has(stream) && live() && stateStreams.size === 0) end('state stream ended', true);
      },
    });
    stateStreams.add(stream);
    return stream;
  }
  function retireAll(): void {
    for (const stream of stateStreams) retire(stream);
  }
  openState(opts.stateHeaders);

  return {
    ...identity,
    openedAt,
    live,
    announce(headers) {
      if (live()) openState(headers);
    },
    openConnection() {
      if (!live()) throw refusedError('closed');
      const stream = session.request({ ':method': 'POST', ':path': CONNECTION_STREAM_PATH }, { endStream: false });
      stream.once('response', (headers: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
        if (headers[':status'] !== 200) stream.destroy(refusedError(headers[':status']));
      });
      return guardEmptyWrites(stream);
    },
    async close(reason, graceMs) {
      end(reason, false);
      // The state stream never ends on its own: without closing it, the session would wait the whole grace.
      retireAll();
      if (!session.closed && !session.destroyed) session.close();
      // The socket first: destroying only the session after close() can leave it open (Node 20).
      const timer = setTimeout(() => {
        socket.destroy();
        session.destroy();
      }, graceMs);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
    destroy(reason) {
      end(reason, true);
    },
  };
}
