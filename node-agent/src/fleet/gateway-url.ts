// Whether a GATEWAY_URL may be dialled in plain HTTP. The tunnel carries prompts, answers and the node
// token, so it is https:// unless the gateway sits on this host or a private network, or the operator
// opts in with GATEWAY_ALLOW_HTTP=true.
import { BlockList, isIP } from 'node:net';

// Loopback, RFC 1918, CGNAT (Tailscale and other overlay networks), link-local; IPv6 loopback, ULA and link-local.
const LOCAL = new BlockList();
LOCAL.addSubnet('127.0.0.0', 8, 'ipv4');
LOCAL.addSubnet('10.0.0.0', 8, 'ipv4');
LOCAL.addSubnet('172.16.0.0', 12, 'ipv4');
LOCAL.addSubnet('192.168.0.0', 16, 'ipv4');
LOCAL.addSubnet('100.64.0.0', 10, 'ipv4');
LOCAL.addSubnet('169.254.0.0', 16, 'ipv4');
LOCAL.addAddress('::1', 'ipv6');
LOCAL.addSubnet('fc00::', 7, 'ipv6');
LOCAL.addSubnet('fe80::', 10, 'ipv6');

/**
 * Whether a URL's host is loopback or a private address (an IP literal, or `localhost`). Other names are not:
 * what a name resolves to can change, so a compose service name needs https or GATEWAY_ALLOW_HTTP=true.
 * @example isLocalOrPrivateHost('10.0.0.5') // true
 */
export function isLocalOrPrivateHost(hostname: string): boolean {
  const host = hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
  const lower = host.toLowerCase();
  if (lower === 'localhost' || lower.endsWith('.localhost')) return true;
  const family = isIP(host);
  if (family === 4) return LOCAL.check(host, 'ipv4');
  if (family === 6) {
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(host)?.[1];
    return mapped === undefined ? LOCAL.check(host, 'ipv6') : LOCAL.check(mapped, 'ipv4');
  }
  return false;
}

/** The fix an operator needs when a plain-HTTP gateway URL is refused. */
export const PLAIN_HTTP_FIX =
  'use an https:// URL, or set GATEWAY_ALLOW_HTTP=true if the network between this node and the gateway is trusted';

/**
 * Why the node must not dial this gateway URL, or undefined when it may.
 * @example gatewayUrlProblem(new URL('http://gw.example.com'), false) // 'plain http to a public address …'
 */
export function gatewayUrlProblem(url: URL, allowHttp: boolean): string | undefined {
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return 'must start with https:// (or http:// for a loopback or private address)';
  if (allowHttp || isLocalOrPrivateHost(url.hostname)) return undefined;
  return `plain http to ${url.hostname}, which is not a loopback or private address, would send the node token and every prompt in clear text: ${PLAIN_HTTP_FIX}`;
}
