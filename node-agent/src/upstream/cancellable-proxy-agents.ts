import type { ClientRequest } from 'node:http';
import { once } from 'node:events';
import { lookup } from 'node:dns/promises';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { SocksClient } from 'socks';
import { SocksProxyAgent } from 'socks-proxy-agent';

type ConnectOptions = Parameters<HttpsProxyAgent<string>['connect']>[1];

/** Raised on a request destroyed without an error of its own while its proxy connection was being made. */
export class ProxyConnectAbandonedError extends Error {
  override readonly name = 'ProxyConnectAbandonedError';
  readonly code = 'ECONNABORTED';

  constructor() {
    super('the request was destroyed before its proxy connection was ready');
  }
}

/**
 * An AbortSignal that fires when `req` is destroyed before `release()`. Node emits nothing when a request is destroyed
 * before it has a socket ('error' and 'close' wait for the agent to hand one over), so destroy() itself is wrapped,
 * for as long as the agent is making the request's connection and no longer.
 */
function watchDestroy(req: ClientRequest): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const abandon = (err: Error | undefined): void => controller.abort(err ?? new ProxyConnectAbandonedError());
  if (req.destroyed) {
    abandon(undefined);
    return { signal: controller.signal, release: () => undefined };
  }
  const own = Object.getOwnPropertyDescriptor(req, 'destroy');
  const destroy = req.destroy.bind(req);
  req.destroy = (err?: Error) => {
    abandon(err);
    return destroy(err);
  };
  const release = (): void => {
    if (own === undefined) Reflect.deleteProperty(req, 'destroy');
    else Object.defineProperty(req, 'destroy', own);
  };
  return { signal: controller.signal, release };
}

// The request is given the error it was destroyed with, as when a request with a socket is destroyed.
async function settle<T>(connecting: Promise<T>, signal: AbortSignal, release: () => void): Promise<T> {
  try {
    return await connecting;
  } catch (err) {
    throw signal.aborted ? signal.reason : err;
  } finally {
    release();
  }
}

/**
 * HTTP CONNECT through an http:// or https:// proxy. https-proxy-agent never watches the request it is connecting for:
 * against a proxy that never answers the CONNECT, the socket to the proxy would stay open after the request is given
 * up. Here the request's destroy() aborts that socket.
 */
export class CancellableHttpsProxyAgent extends HttpsProxyAgent<string> {
  override connect(req: ClientRequest, opts: ConnectOptions): Promise<Socket> {
    const { signal, release } = watchDestroy(req);
    const shared = this.connectOpts;
    // The parent opens its socket to the proxy from this.connectOpts before its first await; this request's copy
    // carries the signal (net and tls sockets are destroyed when their signal aborts).
    this.connectOpts = { ...shared, signal };
    try {
      return settle(super.connect(req, opts), signal, release);
    } finally {
      this.connectOpts = shared;
    }
  }
}

/**
 * SOCKS5 through a socks5:// proxy. socks-proxy-agent lets the socks client open the socket to the proxy out of
 * reach, held until the proxy answers or the client's own 30 s run out; here the agent opens it (with the signal)
 * and hands it to the socks client, and the rest is as socks-proxy-agent does it: the target's name resolved
 * here (socks5, not socks5h), TLS to the target over the tunnel.
 */
export class CancellableSocksProxyAgent extends SocksProxyAgent {
  override connect(req: ClientRequest, opts: ConnectOptions): Promise<Socket> {
    const { signal, release } = watchDestroy(req);
    return settle(this.tunnel(opts, signal), signal, release);
  }

  private async tunnel(opts: ConnectOptions, signal: AbortSignal): Promise<Socket> {
    if (!opts.host) throw new TypeError('No "host" to connect to');
    const host = this.shouldLookup ? (await lookup(opts.host)).address : opts.host;
    signal.throwIfAborted();
    const socket = net.connect({
      ...this.socketOptions,
      host: this.proxy.host ?? this.proxy.ipaddress,
      port: this.proxy.port,
      signal,
    });
    await once(socket, 'connect');
    const { socket: tunnel } = await SocksClient.createConnection({
      proxy: this.proxy,
      destination: { host, port: opts.port },
      command: 'connect',
      existing_socket: socket,
    });
    if (!opts.secureEndpoint) return tunnel;
    const servername = opts.servername ?? (net.isIP(opts.host) === 0 ? opts.host : undefined);
    return tls.connect({ ...opts, ...(servername === undefined ? {} : { servername }), socket: tunnel });
  }
}
