import { request as httpRequest, type Agent as HttpAgent, type ClientRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';

/** How the wait for a node's response head ended. */
export type NodeHead =
  | { kind: 'response'; proxyRes: IncomingMessage }
  /** No answer: refused, reset, timed out. `staleSocket`: a reused keep-alive socket the node had just closed. */
  | { kind: 'error'; code: string | undefined; staleSocket: boolean }
  | { kind: 'aborted' };

/** One request to one node. */
export interface NodeRequest {
  target: URL;
  method: string;
  /** The complete outgoing headers (filtered client headers + signature + content-length). */
  headers: IncomingHttpHeaders;
  /** The path for the request line (already in wire form, as signed). */
  path: string;
  body: Buffer;
}

/** Sends requests to nodes and resolves with each one's response head. */
export interface NodeRequester {
  /** Never rejects; a client that hangs up (closes `res`) before the head destroys the node request at once. */
  request(res: ServerResponse, nodeReq: NodeRequest): Promise<NodeHead>;
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** A node that does not accept the connection within `ms` fails with ECONNECT_TIMEOUT (a reused socket is connected already). */
function limitConnect(socket: Socket, ms: number): void {
  if (!socket.connecting) return;
  const timer = setTimeout(() => {
    socket.destroy(Object.assign(new Error('ECONNECT_TIMEOUT'), { code: 'ECONNECT_TIMEOUT' }));
  }, ms);
  timer.unref();
  const done = (): void => {
    clearTimeout(timer);
    socket.off('connect', done);
    socket.off('close', done);
  };
  socket.once('connect', done);
  socket.once('close', done);
}

/**
 * Sends one request per attempt with node:http on the forwarder's keep-alive agents: the signed path,
 * the filtered headers and the body bytes, in one write. The response head is handed back unread, so
 * the forwarder decides between relaying it and failing over.
 *
 * This was http-proxy-3 (selfHandleResponse, the client's req.headers lent for the synchronous web()
 * call, its global proxyReq/proxyRes events matched back to requests): with selfHandleResponse, its
 * only work left was building the request and piping a body stream into it, ~45 µs of the gateway's
 * CPU per request (setupOutgoing, the body Readable and pipe, per-attempt listeners on the client's
 * req/res) under 200 concurrent requests. What it guaranteed for aborts is done here: a client that
 * hangs up destroys the node request at once.
 */
export function createNodeRequester(deps: { httpAgent: HttpAgent; httpsAgent: HttpsAgent; connectTimeoutMs: number }): NodeRequester {
  function request(res: ServerResponse, nodeReq: NodeRequest): Promise<NodeHead> {
    return new Promise((resolve) => {
      if (res.destroyed) return resolve({ kind: 'aborted' });
      let proxyReq: ClientRequest | undefined;
      let settled = false;
      const settle = (head: NodeHead): void => {
        if (settled) return;
        settled = true;
        res.off('close', onClientClose);
        resolve(head);
      };
      const onClientClose = (): void => {
        proxyReq?.destroy();
        settle({ kind: 'aborted' });
      };
      const onError = (err: unknown): void => {
        settle({ kind: 'error', code: errorCode(err), staleSocket: proxyReq?.reusedSocket === true && errorCode(err) === 'ECONNRESET' });
      };
      res.once('close', onClientClose);
      const { target } = nodeReq;
      const https = target.protocol === 'https:';
      try {
        proxyReq = (https ? httpsRequest : httpRequest)({
          protocol: target.protocol,
          // WHATWG URL keeps IPv6 brackets in hostname; node:http wants the bare address.
          hostname: target.hostname.startsWith('[') ? target.hostname.slice(1, -1) : target.hostname,
          port: target.port === '' ? (https ? 443 : 80) : Number(target.port),
          method: nodeReq.method,
          path: nodeReq.path,
          headers: nodeReq.headers,
          agent: https ? deps.httpsAgent : deps.httpAgent,
        });
      } catch (err) {
        // http.request throws synchronously on a header value it will not send.
        return onError(err);
      }
      // Stays attached for the request's life: a socket error after the head must not crash the process.
      proxyReq.on('error', onError);
      proxyReq.on('socket', (socket: Socket) => limitConnect(socket, deps.connectTimeoutMs));
      proxyReq.on('response', (proxyRes: IncomingMessage) => {
        if (settled) proxyRes.destroy();
        else settle({ kind: 'response', proxyRes });
      });
      proxyReq.end(nodeReq.body);
    });
  }

  return { request };
}
