import type { Agent, ClientRequest, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { createProxyServer, type ProxyServer } from 'http-proxy-3';
import { errorCode } from '@switchyard/shared';

/** How the wait for a node's response head ended. */
export type NodeHead =
  | { kind: 'response'; proxyRes: IncomingMessage }
  /** No answer: no tunnel, the stream refused or reset, the tunnel gone. */
  | { kind: 'error'; code: string | undefined }
  | { kind: 'aborted' };

/** One request to one node. */
export interface NodeRequest {
  /** Fills the Host header; the agent decides where the bytes go. */
  target: URL;
  /** The node's tunnel agent: each request gets a fresh stream on its session as its connection. */
  agent: Agent;
  /** The complete outgoing headers (filtered client headers + forward headers + content-length). */
  headers: IncomingHttpHeaders;
  /** The path for the request line (already in wire form). */
  path: string;
  body: Buffer;
}

/** Sends requests to nodes through http-proxy-3 and resolves with each one's response head. */
export interface NodeRequester {
  /** Never rejects; a client that hangs up before the head destroys the node request at once. */
  request(req: IncomingMessage, res: ServerResponse, nodeReq: NodeRequest): Promise<NodeHead>;
}

function bodyStream(body: Buffer): Readable {
  return new Readable({
    read() {
      if (body.length > 0) this.push(body);
      this.push(null);
    },
  });
}

/** Dependencies of createNodeRequester. */
export interface NodeRequesterDeps {
  onProxyError(err: unknown): void;
}

/**
 * One http-proxy-3 server for all requests, with selfHandleResponse so the forwarder sees the status
 * before deciding to relay or fail over. Its 'proxyReq'/'proxyRes' events are global, so each
 * in-flight request is found again by its client response.
 */
export function createNodeRequester(deps: NodeRequesterDeps): NodeRequester {
  return new ProxyNodeRequester(deps);
}

/** The proxy server and the requests waiting for their node's response head, by client response. */
export class ProxyNodeRequester implements NodeRequester {
  readonly #proxy: ProxyServer;
  readonly #pending = new WeakMap<ServerResponse, PendingHead>();

  constructor(deps: NodeRequesterDeps) {
    this.#proxy = createProxyServer({ selfHandleResponse: true, prependPath: false, xfwd: false });
    this.#proxy.on('proxyReq', (proxyReq, _req, res) => {
      const p = this.#pending.get(res);
      if (p) p.proxyReq = proxyReq;
      else proxyReq.destroy();
    });
    this.#proxy.on('proxyRes', (proxyRes, _req, res) => {
      const p = this.#pending.get(res);
      if (p) p.settle({ kind: 'response', proxyRes });
      else proxyRes.destroy();
    });
    // Every web() call passes its own callback, so this only sees errors that call has no place for.
    this.#proxy.on('error', (err) => deps.onProxyError(err));
  }

  request(req: IncomingMessage, res: ServerResponse, nodeReq: NodeRequest): Promise<NodeHead> {
    return new Promise((resolve) => {
      if (res.destroyed) return resolve({ kind: 'aborted' });
      const p = new PendingHead(this.#pending, res, resolve);
      this.#pending.set(res, p);
      res.once('close', p.onClientClose);
      try {
        this.#send(req, res, nodeReq, p.onError);
      } catch (err) {
        // http.request throws synchronously on a header value it will not send.
        p.onError(err);
      }
    });
  }

  #send(req: IncomingMessage, res: ServerResponse, nodeReq: NodeRequest, onError: (err: unknown) => void): void {
    // http-proxy-3 builds the outgoing request from req.headers and req.url, synchronously inside web().
    // Lending it the filtered headers and the wire path for that call (rather than editing them in
    // 'proxyReq', which it skips for `Expect: 100-continue` requests) means the client's credentials
    // can never reach a node; the client's request keeps its own headers for everyone else.
    const own = { headers: req.headers, url: req.url };
    req.headers = nodeReq.headers;
    req.url = nodeReq.path;
    try {
      this.#proxy.web(
        req,
        res,
        { target: nodeReq.target, agent: nodeReq.agent, buffer: bodyStream(nodeReq.body) },
        onError,
      );
    } finally {
      req.headers = own.headers;
      req.url = own.url;
    }
  }
}

/**
 * One request waiting for its node's response head: settled once, by the head, an error or the client leaving.
 * One object per request in place of the pending record and the three closures it was built with.
 */
class PendingHead {
  proxyReq: ClientRequest | undefined;
  readonly #pending: WeakMap<ServerResponse, PendingHead>;
  readonly #res: ServerResponse;
  readonly #resolve: (head: NodeHead) => void;

  constructor(pending: WeakMap<ServerResponse, PendingHead>, res: ServerResponse, resolve: (head: NodeHead) => void) {
    this.#pending = pending;
    this.#res = res;
    this.#resolve = resolve;
  }

  settle(head: NodeHead): void {
    if (this.#pending.get(this.#res) !== this) return;
    this.#pending.delete(this.#res);
    this.#res.off('close', this.onClientClose);
    this.#resolve(head);
  }

  // http-proxy-3 destroys the node request on this too; doing it here keeps the guarantee ours.
  readonly onClientClose = (): void => {
    this.proxyReq?.destroy();
    this.settle({ kind: 'aborted' });
  };

  readonly onError = (err: unknown): void => {
    this.settle({ kind: 'error', code: errorCode(err) });
  };
}
