// The gateway's side of the node tunnels: joins (upgrade, auth, lease, 101), the live sessions per
// node with their latest reports, and the timers of the duties that keep them honest (tunnel-duties.ts, replicas).
import type { Agent, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  PING_INTERVAL_MS,
  PING_TIMEOUT_MS,
  TunnelHeaders,
  type HashStore,
  type Keyspace,
  type KeyValueStore,
  type Logger,
  type NodeReport,
} from '@switchyard/shared';
import { authenticateNode, type EnrolmentRepository } from '../nodes/index.js';
import { createNodeLease, type NodeLease } from './node-lease.js';
import { hasLiveSession, newNodeEntry, type NodeEntry } from './node-entry.js';
import { createEnrolmentPoll, createLeaseRenewal } from './tunnel-duties.js';
import { createReplicaRegistry, type Replica, type ReplicaRegistry } from './replica-registry.js';
import { refuseUpgrade, switchingProtocols, type RefusalReason } from './upgrade-answers.js';
import { checkUpgradeShape, loggable } from './upgrade-request.js';
import { openTunnelSession, type TunnelIdentity, type TunnelSession } from './tunnel-session.js';

/** Dependencies of createTunnelHub. */
export interface TunnelHubDeps {
  enrolments: Pick<EnrolmentRepository, 'verify' | 'get'>;
  store: Pick<KeyValueStore, 'compareAndSet'> & Pick<HashStore, 'hset' | 'hgetall'>;
  keys: Pick<Keyspace, 'nodeLease' | 'gatewayReplicas'>;
  log: Logger;
  /** This replica: GATEWAY_ID and GATEWAY_REPLICA_URL. */
  replica: Replica;
  /** Default PING_INTERVAL_MS / PING_TIMEOUT_MS. */
  pingIntervalMs?: number;
  pingTimeoutMs?: number;
  /** How often the connected nodes' enrolments are checked (revocation, rotation). Default 1000 ms. */
  enrolmentPollMs?: number;
  /** How often held leases are renewed. Default 5000 ms. */
  leaseRenewMs?: number;
  /** How often this replica's registry field is written. Default 5000 ms. */
  replicaIntervalMs?: number;
  /** At stop(), how long tunnels given GOAWAY may take before they are destroyed. Default 5000 ms. */
  closeGraceMs?: number;
}

/** The tunnels of this gateway replica. */
export interface TunnelHub {
  /** The main server's 'upgrade' listener: `server.on('upgrade', hub.handleUpgrade)`. */
  readonly handleUpgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** An agent whose connections are streams on a live tunnel of the node; undefined when it has none. */
  agentFor(nodeId: string): Agent | undefined;
  /** The latest report of every node with a live tunnel here, by node id. The same array until something changes. */
  reports(): readonly NodeReport[];
  /** Live tunnels per node (for the metrics). */
  tunnelCounts(): ReadonlyMap<string, number>;
  /** The live replicas as the last registry read saw them, this one first. */
  replicas(): Replica[];
  /** Writes this replica's registry field and starts the timers. */
  start(): Promise<void>;
  /** Refuses new tunnels (503) and leaves the replica registry; the tunnels stay for the requests still coming. */
  drain(): void;
  /** GOAWAY on every tunnel (in-flight streams finish, up to closeGraceMs), timers off, registry field gone. */
  stop(): Promise<void>;
  /** Ends every tunnel of the node at once. */
  close(nodeId: string): void;
}

function byId(a: NodeReport, b: NodeReport): number {
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
}

/** The replica list a node is told of: every live replica's id, and the direct URLs of those that have one. */
function replicaHeaders(live: readonly Replica[]): Record<string, string> {
  const urls = live.flatMap((r) => (r.url === undefined ? [] : [`${r.id}=${r.url}`]));
  return {
    [TunnelHeaders.replicas]: live.map((r) => r.id).join(','),
    ...(urls.length === 0 ? {} : { [TunnelHeaders.replicaUrls]: urls.join(',') }),
  };
}

function authRefusalMessage(reason: RefusalReason): string {
  return reason === 'malformed'
    ? `Authorization: Bearer <node token> and ${TunnelHeaders.nodeId} are required`
    : 'unknown node, wrong token for this node id, or revoked';
}

const DRAINING = 'this gateway replica is draining; dial again';

/**
 * @example
 * const hub = createTunnelHub({ enrolments, store, keys, log, replica: { id: config.GATEWAY_ID } });
 * server.on('upgrade', hub.handleUpgrade);
 * await hub.start();
 * forwarder = createForwarder({ agentFor: (nodeId) => hub.agentFor(nodeId), … });
 */
export function createTunnelHub(deps: TunnelHubDeps): TunnelHub {
  return new GatewayTunnelHub(deps);
}

/** The live sessions per node with their latest reports, the joins that add to them, and the duties' timers. */
class GatewayTunnelHub implements TunnelHub {
  readonly #deps: TunnelHubDeps;
  readonly #log: Logger;
  readonly #pingIntervalMs: number;
  readonly #pingTimeoutMs: number;
  readonly #closeGraceMs: number;
  readonly #lease: NodeLease;
  readonly #entries = new Map<string, NodeEntry>();
  readonly #replicas: ReplicaRegistry;
  readonly #pollEnrolments: () => Promise<void>;
  readonly #renewLeases: () => Promise<void>;
  readonly #timers: NodeJS.Timeout[] = [];
  #snapshot: readonly NodeReport[] = [];
  #dirty = false;
  #draining = false;
  #stopped = false;

  constructor(deps: TunnelHubDeps) {
    this.#deps = deps;
    this.#log = deps.log;
    this.#pingIntervalMs = deps.pingIntervalMs ?? PING_INTERVAL_MS;
    this.#pingTimeoutMs = deps.pingTimeoutMs ?? PING_TIMEOUT_MS;
    this.#closeGraceMs = deps.closeGraceMs ?? 5_000;
    this.#lease = createNodeLease({ store: deps.store, keys: deps.keys });
    this.#replicas = createReplicaRegistry({
      store: deps.store,
      keys: deps.keys,
      log: deps.log,
      self: deps.replica,
      onChange: () => this.#announceReplicas(),
      ...(deps.replicaIntervalMs === undefined ? {} : { intervalMs: deps.replicaIntervalMs }),
    });
    const sessions = (): Map<string, TunnelSession[]> =>
      new Map([...this.#entries].map(([nodeId, e]) => [nodeId, e.sessions]));
    this.#pollEnrolments = createEnrolmentPoll({ sessions, enrolments: deps.enrolments, log: deps.log });
    this.#renewLeases = createLeaseRenewal({ sessions, lease: this.#lease, log: deps.log });
  }

  // A property, not a method: main.ts hands it to server.on('upgrade') as it is.
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => undefined); // a peer resetting mid-join is not ours to crash on
    this.#join(req, socket, head).catch((err: unknown) => {
      this.#log.error('tunnel join failed', { err });
      refuseUpgrade(socket, 'unavailable', 'the gateway could not open the tunnel');
    });
  };

  agentFor(nodeId: string): Agent | undefined {
    const entry = this.#entries.get(nodeId);
    return hasLiveSession(entry) ? entry?.agent : undefined;
  }

  reports(): readonly NodeReport[] {
    // A session can stop taking streams a moment before it says so (Node destroys it on a socket error and
    // emits 'close' later): what agentFor() refuses must not stay routable meanwhile.
    if (!this.#dirty) this.#dirty = this.#snapshot.some((r) => !hasLiveSession(this.#entries.get(r.nodeId)));
    if (this.#dirty) {
      this.#dirty = false;
      const out: NodeReport[] = [];
      for (const entry of this.#entries.values())
        if (entry.report !== undefined && hasLiveSession(entry)) out.push(entry.report);
      this.#snapshot = out.sort(byId);
    }
    return this.#snapshot;
  }

  tunnelCounts(): ReadonlyMap<string, number> {
    const counts = new Map<string, number>();
    for (const [nodeId, entry] of this.#entries) counts.set(nodeId, entry.sessions.filter((s) => s.live()).length);
    return counts;
  }

  replicas(): Replica[] {
    return this.#replicas.live();
  }

  async start(): Promise<void> {
    if (this.#timers.length > 0) return;
    this.#every(this.#deps.enrolmentPollMs ?? 1_000, this.#pollEnrolments);
    this.#every(this.#deps.leaseRenewMs ?? 5_000, this.#renewLeases);
    await this.#replicas.start();
  }

  drain(): void {
    if (this.#draining) return;
    this.#draining = true;
    void this.#replicas.stop();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    const sessions = [...this.#entries.values()].flatMap((e) => e.sessions);
    const closing = sessions.map((s) => s.close('gateway stopping', this.#closeGraceMs));
    await Promise.all([...closing, this.#replicas.stop()]);
  }

  close(nodeId: string): void {
    for (const session of this.#entries.get(nodeId)?.sessions ?? []) session.destroy('closed by the gateway');
  }

  async #join(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // 1. The shape of the request, and whether this replica takes tunnels now.
    const shape = checkUpgradeShape(req, this.#deps.replica.id);
    if (!shape.ok) return this.#refuse(socket, req, shape.reason, shape.message);
    if (this.#draining || this.#stopped) return this.#refuse(socket, req, 'unavailable', DRAINING);
    // 2. Who it is: the token must be the current one of this node id.
    let who: Awaited<ReturnType<typeof authenticateNode>>;
    try {
      who = await authenticateNode(req.headers, this.#deps.enrolments);
    } catch (err) {
      this.#log.warn('tunnel auth unavailable', { err });
      return this.#refuse(socket, req, 'unavailable', 'cannot check node tokens right now');
    }
    if (!who.ok) return this.#refuse(socket, req, who.reason, authRefusalMessage(who.reason));
    // 3. One live process per node id.
    let held: boolean;
    try {
      held = await this.#lease.hold(who.nodeId, shape.instance);
    } catch (err) {
      this.#log.warn('node lease unavailable', { nodeId: who.nodeId, err });
      return this.#refuse(socket, req, 'unavailable', 'cannot check the node lease right now');
    }
    if (!held) {
      this.#log.warn('tunnel refused: another process holds this node id', {
        nodeId: who.nodeId,
        instance: shape.instance,
      });
      return refuseUpgrade(socket, 'duplicate', `another process holds node id ${who.nodeId}`);
    }
    // 4. The node may have given up, or this replica begun draining, while we waited.
    if (socket.destroyed || this.#draining || this.#stopped) {
      if (!socket.destroyed) this.#refuse(socket, req, 'unavailable', DRAINING);
      return this.#releaseIfLast(who.nodeId, shape.instance);
    }
    this.#open(socket, head, {
      nodeId: who.nodeId,
      instance: shape.instance,
      tokenDigest: who.enrolment.tokenDigest,
      remote: req.socket.remoteAddress,
    });
  }

  #refuse(socket: Duplex, req: IncomingMessage, reason: RefusalReason, message: string): void {
    this.#log.warn('tunnel refused', {
      nodeId: loggable(req.headers[TunnelHeaders.nodeId]),
      reason,
      message,
      remote: req.socket.remoteAddress,
    });
    refuseUpgrade(socket, reason, message);
  }

  #open(socket: Duplex, head: Buffer, identity: TunnelIdentity): void {
    const replicas = replicaHeaders(this.#replicas.live());
    switchingProtocols(socket, { [TunnelHeaders.replica]: this.#deps.replica.id, ...replicas });
    const entry = this.#entryOf(identity.nodeId);
    const previous = entry.sessions;
    const session: TunnelSession = openTunnelSession(socket, head, identity, {
      pingIntervalMs: this.#pingIntervalMs,
      pingTimeoutMs: this.#pingTimeoutMs,
      stateHeaders: replicas,
      log: this.#log,
      onReport: (report) => this.#reported(session, report),
      onChange: () => this.#changed(),
      onEnd: (reason) => this.#ended(session, reason),
    });
    entry.sessions = [...previous, session];
    this.#changed();
    this.#log.info('tunnel opened', {
      nodeId: identity.nodeId,
      instance: identity.instance,
      remote: identity.remote,
      replaced: previous.length,
    });
    // One tunnel per node on a replica: a new dial means the node gave the old one up (or another process took the lease).
    for (const old of previous) void old.close('replaced by a newer tunnel', this.#closeGraceMs);
  }

  #entryOf(nodeId: string): NodeEntry {
    let entry = this.#entries.get(nodeId);
    if (entry === undefined) {
      entry = newNodeEntry(nodeId);
      this.#entries.set(nodeId, entry);
    }
    return entry;
  }

  #reported(session: TunnelSession, report: NodeReport): void {
    const current = this.#entries.get(session.nodeId);
    if (current === undefined || !current.sessions.includes(session)) return;
    current.report = report;
    this.#changed();
  }

  #ended(session: TunnelSession, reason: string): void {
    const entry = this.#entries.get(session.nodeId);
    if (entry !== undefined) {
      entry.sessions = entry.sessions.filter((s) => s !== session);
      if (entry.sessions.length === 0) {
        this.#entries.delete(session.nodeId);
        entry.agent.destroy();
      }
    }
    this.#changed();
    this.#log.info('tunnel closed', {
      nodeId: session.nodeId,
      instance: session.instance,
      reason,
      durationMs: Date.now() - session.openedAt,
    });
    this.#releaseIfLast(session.nodeId, session.instance);
  }

  #changed(): void {
    this.#dirty = true;
  }

  #releaseIfLast(nodeId: string, instance: string): void {
    if (this.#entries.get(nodeId)?.sessions.some((s) => s.instance === instance) === true) return;
    this.#lease
      .release(nodeId, instance)
      .catch((err: unknown) => this.#log.warn('node lease not released', { nodeId, err }));
  }

  // A replica that appears after a node joined is announced on a fresh state stream of every tunnel.
  #announceReplicas(): void {
    const headers = replicaHeaders(this.#replicas.live());
    for (const entry of this.#entries.values()) for (const session of entry.sessions) session.announce(headers);
  }

  #every(ms: number, fn: () => Promise<void>): void {
    const timer = setInterval(() => void fn(), ms);
    timer.unref();
    this.#timers.push(timer);
  }
}
