// The node ⇄ gateway tunnel, as both sides speak it (docs/ARCHITECTURE.md, "The fleet: nodes dial in", tells why).
//
// 1. The node dials out: `GET TUNNEL_PATH` on GATEWAY_URL with `Connection: Upgrade`, `Upgrade: TUNNEL_UPGRADE`,
//    `Authorization: Bearer <NODE_TOKEN>` and the TunnelHeaders below. The gateway answers 101 (or a refusal
//    from TunnelRefusal) and from then on the socket carries HTTP/2: the NODE is the HTTP/2 server, the
//    GATEWAY the HTTP/2 client (Node's own nghttp2, no framing of ours).
// 2. On that session the gateway opens:
//    - one `GET STATE_STREAM_PATH` stream: the node answers 200 and writes one NodeReport JSON line at once,
//      then one on every change and at least every REPORT_INTERVAL_MS. The request carries the replica list
//      (TunnelHeaders.replicas / replicaUrls); when that list changes the gateway opens a fresh state stream with
//      the new one and retires the old, so a replica that starts after a node joined gets its tunnel;
//    - one `POST CONNECTION_STREAM_PATH` stream per client request: the node answers 200 and hands the stream
//      to its ordinary HTTP/1.1 server as a connection (http-proxy-3 on the gateway writes one request on it).
// 3. Both sides send HTTP/2 PINGs every PING_INTERVAL_MS and destroy a session whose PING is not
//    acknowledged within PING_TIMEOUT_MS, so a dead peer is found within 15 s.
import { z } from 'zod';

/** The gateway path the node's upgrade request goes to. */
export const TUNNEL_PATH = '/_switchyard/tunnel';
/** The gateway path of the sealed credential copy (GET: 200 `{sealed}` or 404; PUT `{sealed}`: 204). Node token auth. */
export const CREDENTIAL_PATH = '/_switchyard/credential';
/** The `Upgrade` token of the tunnel. */
export const TUNNEL_UPGRADE = 'switchyard-tunnel/1';
/** Stream paths the gateway opens on the node's HTTP/2 session. */
export const STATE_STREAM_PATH = '/_switchyard/state';
export const CONNECTION_STREAM_PATH = '/_switchyard/connection';

/** Headers of the node's upgrade request and of the gateway's 101 answer. */
export const TunnelHeaders = {
  /** Request: the node's id (its token is bound to it). */
  nodeId: 'x-switchyard-node-id',
  /** Request: a random id of this node process, so a second process with the same node id can be told apart and refused. */
  instance: 'x-switchyard-instance',
  /** Request: the gateway replica this tunnel is meant for (the edge routes on it); absent on the first dial. 101: the replica that answered. */
  replica: 'x-switchyard-replica',
  /** 101: the live replicas, comma-separated ids (the node keeps a tunnel to each). */
  replicas: 'x-switchyard-replicas',
  /** 101, per replica id: where to dial that replica directly, `id=url` pairs comma-separated (absent: through GATEWAY_URL with the replica header). */
  replicaUrls: 'x-switchyard-replica-urls',
} as const;

/** Informational headers the gateway adds to each request it sends through a tunnel (the node logs them, then strips every `x-switchyard-*` header). */
export const ForwardHeaders = {
  requestId: 'x-switchyard-request-id',
  keyId: 'x-switchyard-key-id',
  /**
   * The model the gateway parsed from the body's top level (absent when none, or not a printable token): what the
   * node names its spans and per-model state by, where peeking into the body could find a nested "model".
   */
  model: 'x-switchyard-model',
} as const;

/**
 * Why a gateway refuses an upgrade: the HTTP status it answers with, and the `code` in its JSON body
 * `{ error: { code, message } }`. A node retries all of them with backoff (a revoked token is logged as such).
 */
export const TunnelRefusal = {
  /** Missing or malformed headers. */
  malformed: { status: 400, code: 'malformed' },
  /** Unknown node, wrong token for this id, or revoked. */
  unauthenticated: { status: 401, code: 'unauthenticated' },
  /** Another live process holds this node id. */
  duplicate: { status: 409, code: 'duplicate_node' },
  /** The replica header names another replica (the edge did not route it there). */
  misdirected: { status: 421, code: 'misdirected' },
  /** The gateway is draining or cannot check the token right now. */
  unavailable: { status: 503, code: 'unavailable' },
} as const;

export const PING_INTERVAL_MS = 5_000;
export const PING_TIMEOUT_MS = 10_000;
/** The node reports its state at least this often, even when nothing changed. */
export const REPORT_INTERVAL_MS = 5_000;

/** PUT CREDENTIAL_PATH's body and GET's answer. */
export const SealedCredentialSchema = z.object({ sealed: z.string() });
export type SealedCredential = z.infer<typeof SealedCredentialSchema>;

/**
 * The replica list of a 101 answer: ids and, for some, a direct URL.
 * @example parseReplicas('gw-1,gw-2', 'gw-2=http://127.0.0.1:8082') // [{id:'gw-1'},{id:'gw-2',url:'http://127.0.0.1:8082'}]
 */
export function parseReplicas(ids: string | undefined, urls: string | undefined): { id: string; url?: string }[] {
  const direct = new Map<string, string>();
  for (const pair of (urls ?? '').split(',')) {
    const at = pair.indexOf('=');
    if (at > 0) direct.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
  }
  const out: { id: string; url?: string }[] = [];
  for (const raw of (ids ?? '').split(',')) {
    const id = raw.trim();
    if (!REPLICA_ID_RE.test(id) || out.some((r) => r.id === id)) continue;
    const url = direct.get(id);
    out.push(url === undefined ? { id } : { id, url });
  }
  return out;
}

/** What a replica id (GATEWAY_ID) may look like: it travels in a header and names an edge route. */
export const REPLICA_ID_RE = /^[A-Za-z0-9_.-]{1,64}$/;
