import http from 'node:http';
import https from 'node:https';
import { CancellableHttpsProxyAgent, CancellableSocksProxyAgent } from './cancellable-proxy-agents.js';

/** How this node's traffic leaves the host: login, refresh and API calls all use it. */
export interface Egress {
  /** The agent for a request to `url` (keep-alive, bound to the local address or through the proxy). */
  agentFor(url: URL): http.Agent;
  /** Closes idle sockets (on shutdown). */
  destroy(): void;
  /** A one-line description for the startup log (no credentials). */
  describe(): string;
}

export interface EgressOptions {
  /** Bind outgoing connections to this local IP (EGRESS_LOCAL_ADDRESS). */
  localAddress?: string;
  /** Send everything through this proxy: http://, https:// or socks5:// (EGRESS_PROXY_URL). */
  proxyUrl?: string;
}

// No socket cap: a cap below the peak number of open streams makes streams queue (docs/MEASURED.md §4).
const agentOptions = {
  keepAlive: true,
  keepAliveMsecs: 10_000,
  maxSockets: Infinity,
  maxFreeSockets: 256,
  scheduling: 'lifo',
} as const;

function withoutCredentials(proxyUrl: string): string {
  const u = new URL(proxyUrl);
  u.username = '';
  u.password = '';
  return u.toString();
}

/**
 * Builds the node's egress: direct from the host (default), bound to one local address, or through a
 * proxy. A proxy tunnels (CONNECT or SOCKS) so it never sees the credentials or bodies; a request given up while
 * its tunnel is being made closes its connection to the proxy.
 */
export function createEgress(opts: EgressOptions = {}): Egress {
  const local = opts.localAddress === undefined ? {} : { localAddress: opts.localAddress };
  if (opts.proxyUrl) {
    const proxy = new URL(opts.proxyUrl);
    const agent: http.Agent =
      proxy.protocol === 'socks5:'
        ? new CancellableSocksProxyAgent(proxy, { ...agentOptions })
        : new CancellableHttpsProxyAgent(proxy, { ...agentOptions, ...local });
    return {
      agentFor: () => agent,
      destroy: () => agent.destroy(),
      describe: () => `proxy ${withoutCredentials(opts.proxyUrl ?? '')}`,
    };
  }
  const httpAgent = new http.Agent({ ...agentOptions, ...local });
  const httpsAgent = new https.Agent({ ...agentOptions, ...local });
  return {
    agentFor: (url) => (url.protocol === 'https:' ? httpsAgent : httpAgent),
    destroy: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
    describe: () => (opts.localAddress ? `direct from ${opts.localAddress}` : 'direct from the host'),
  };
}
