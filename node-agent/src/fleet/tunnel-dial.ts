// One dial: the HTTP/1.1 upgrade that turns a connection to a gateway replica into a tunnel.
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { TUNNEL_PATH, TUNNEL_UPGRADE, TunnelHeaders, parseReplicas } from '@switchyard/shared';

/** Where one dial goes: a base URL, and the replica the edge should route it to (none: any replica). */
export interface DialTarget {
  url: URL;
  replica?: string;
}

/** Who dials. */
export interface DialIdentity {
  nodeId: string;
  token: string;
  /** This process's random id (one live process per node id). */
  instance: string;
}

export interface DialOptions {
  target: DialTarget;
  identity: DialIdentity;
  /** Until the gateway's answer head. Default 10 s. */
  timeoutMs?: number;
  /** Extra trust for https (tests: a self-signed CA). */
  ca?: string | Buffer;
}

/** A replica as a 101 answer lists it. */
export interface ReplicaInfo {
  id: string;
  url?: string;
}

/** How a dial ended, short of a network error (which rejects). */
export type DialOutcome =
  | { kind: 'open'; socket: Socket; head: Buffer; replica: string | undefined; replicas: ReplicaInfo[] | undefined }
  | { kind: 'refused'; status: number; code: string | undefined; message: string | undefined };

const MAX_REFUSAL_BODY = 4096;

function header(res: IncomingMessage, name: string): string | undefined {
  const value = res.headers[name];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** The `{error:{code,message}}` of a refusal, when it has one. */
function refusalOf(status: number, body: string): Extract<DialOutcome, { kind: 'refused' }> {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    const code = typeof parsed.error?.code === 'string' ? parsed.error.code : undefined;
    const message = typeof parsed.error?.message === 'string' ? parsed.error.message.slice(0, 300) : undefined;
    return { kind: 'refused', status, code, message };
  } catch {
    return { kind: 'refused', status, code: undefined, message: undefined };
  }
}

/** The tunnel endpoint under a base URL (a base with a path prefix keeps it). */
export function tunnelUrl(base: URL): URL {
  const url = new URL(base);
  url.pathname = `${base.pathname.replace(/\/+$/, '')}${TUNNEL_PATH}`;
  url.search = '';
  url.hash = '';
  return url;
}

/**
 * Dials a gateway: resolves with the upgraded socket on 101, with the refusal on any other answer; rejects on a
 * network error or timeout (the error's `code`, e.g. ECONNREFUSED or ETIMEDOUT).
 * @example
 * const outcome = await dialTunnel({ target: { url: new URL(config.GATEWAY_URL) }, identity });
 */
export function dialTunnel(opts: DialOptions): Promise<DialOutcome> {
  const { target, identity } = opts;
  const url = tunnelUrl(target.url);
  const headers: Record<string, string> = {
    connection: 'Upgrade',
    upgrade: TUNNEL_UPGRADE,
    authorization: `Bearer ${identity.token}`,
    [TunnelHeaders.nodeId]: identity.nodeId,
    [TunnelHeaders.instance]: identity.instance,
  };
  if (target.replica !== undefined) headers[TunnelHeaders.replica] = target.replica;
  const options = { method: 'GET', headers, agent: false as const, ...(opts.ca === undefined ? {} : { ca: opts.ca }) };
  return new Promise((resolve, reject) => {
    const req = url.protocol === 'https:' ? https.request(url, options) : http.request(url, options);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    req.setTimeout(timeoutMs, () =>
      req.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.once('error', reject);
    req.once('upgrade', (res: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.setTimeout(0);
      socket.setNoDelay(true);
      socket.setKeepAlive(true, 30_000);
      const ids = header(res, TunnelHeaders.replicas);
      // On the next turn: a write still completing on a TLS socket would otherwise be reported to the HTTP/2 session
      // that takes the socket over, which aborts Node 20 (`Assertion failed: is_write_in_progress()`).
      setImmediate(resolve, {
        kind: 'open',
        socket,
        head,
        replica: header(res, TunnelHeaders.replica),
        replicas: ids === undefined ? undefined : parseReplicas(ids, header(res, TunnelHeaders.replicaUrls)),
      } satisfies DialOutcome);
    });
    req.once('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < MAX_REFUSAL_BODY) body += chunk;
      });
      res.once('end', () => resolve(refusalOf(status, body)));
      res.once('error', () => resolve(refusalOf(status, body)));
    });
    req.end();
  });
}
