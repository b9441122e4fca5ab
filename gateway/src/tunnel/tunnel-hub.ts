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
import { createNodeLease } from './node-lease.js';
import { createEnrolmentPoll, createLeaseRenewal } from './tunnel-duties.js';
import { createReplicaRegistry, type Replica } from './replica-registry.js';
import { refuseUpgrade, switchingProtocols, type RefusalReason } from './upgrade-answers.js';
import { checkUpgradeShape, loggable } from './upgrade-request.js';
import { noTunnelError, TunnelAgent } from './tunnel-agent.js';
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

interface NodeEntry {
  sessions: TunnelSession[];
  report?: NodeReport;
  agent: TunnelAgent;
}

function byId(a: NodeReport, b: NodeReport): number {
  return a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0;
}

/**
 * @example
 * const hub = createTunnelHub({ enrolments, store, keys, log, replica: { id: config.GATEWAY_ID } });
 * server.on('upgrade', hub.handleUpgrade);
 * await hub.start();
 * forwarder = createForwarder({ agentFor: hub.agentFor, … });
 */
export function createTunnelHub(deps: TunnelHubDeps): TunnelHub {
  const { log } = deps;
  const pingIntervalMs = deps.pingIntervalMs ?? PING_INTERVAL_MS;
  const pingTimeoutMs = deps.pingTimeoutMs ?? PING_TIMEOUT_MS;
  const closeGraceMs = deps.closeGraceMs ?? 5_000;
  const lease = createNodeLease({ store: deps.store, keys: deps.keys });
  const entries = new Map<string, NodeEntry>();
  // A replica that appears after a node joined is announced on a fresh state stream of every tunnel.
  const replicas = createReplicaRegistry({
    store: deps.store,
    keys: deps.keys,
    log,
    self: deps.replica,
    onChange() {
      const headers = replicaHeaders();
      for (const entry of entries.values()) for (const session of entry.sessions) session.announce(headers);
    },
    ...(deps.replicaIntervalMs === undefined ? {} : { intervalMs: deps.replicaIntervalMs }),
  });
  let snapshot: readonly NodeReport[] = [];
  let dirty = false;
  let draining = false;
  let stopped = false;
  const timers: NodeJS.Timeout[] = [];

  const changed = (): void => {
    dirty = true;
  };

  function refuse(socket: Duplex, req: IncomingMessage, reason: RefusalReason, message: string): void {
    log.warn('tunnel refused', {
      nodeId: loggable(req.headers[TunnelHeaders.nodeId]),
      reason,
      message,
      remote: req.socket.remoteAddress,
    });
    refuseUpgrade(socket, reason, message);
  }

  function replicaHeaders(): Record<string, string> {
    const live = replicas.live();
    const urls = live.flatMap((r) => (r.url === undefined ? [] : [`${r.id}=${r.url}`]));
    return {
      [TunnelHeaders.replicas]: live.map((r) => r.id).join(','),
      ...(urls.length === 0 ? {} : { [TunnelHeaders.replicaUrls]: urls.join(',') }),
    };
  }

  function holdsInstance(nodeId: string, instance: string): boolean {
    return entries.get(nodeId)?.sessions.some((s) => s.instance === instance) === true;
  }

  function releaseIfLast(nodeId: string, instance: string): void {
    if (holdsInstance(nodeId, instance)) return;
    lease.release(nodeId, instance).catch((err: unknown) => log.warn('node lease not released', { nodeId, err }));
  }

  function entryOf(nodeId: string): NodeEntry {
    let entry = entries.get(nodeId);
    if (entry === undefined) {
      const created: NodeEntry = {
        sessions: [],
        agent: new TunnelAgent(() => {
          // The newest live tunnel first: an older one of the same node is being replaced.
          for (let i = created.sessions.length - 1; i >= 0; i--) {
            const session = created.sessions[i] as TunnelSession;
            if (!session.live()) continue;
            try {
              return session.openConnection();
            } catch {
              // Closed between the check and the request: try the next one.
            }
          }
          throw noTunnelError(nodeId);
        }),
      };
      entries.set(nodeId, created);
      entry = created;
    }
    return entry;
  }

  function ended(session: TunnelSession, reason: string): void {
    const entry = entries.get(session.nodeId);
    if (entry !== undefined) {
      entry.sessions = entry.sessions.filter((s) => s !== session);
      if (entry.sessions.length === 0) {
        entries.delete(session.nodeId);
        entry.agent.destroy();
      }
    }
    changed();
    log.info('tunnel closed', {
      nodeId: session.nodeId,
      instance: session.instance,
      reason,
      durationMs: Date.now() - session.openedAt,
    });
    releaseIfLast(session.nodeId, session.instance);
  }

  function open(socket: Duplex, head: Buffer, identity: TunnelIdentity): void {
    switchingProtocols(socket, { [TunnelHeaders.replica]: deps.replica.id, ...replicaHeaders() });
    const entry = entryOf(identity.nodeId);
    const previous = entry.sessions;
    const session: TunnelSession = openTunnelSession(socket, head, identity, {
      pingIntervalMs,
      pingTimeoutMs,
      stateHeaders: replicaHeaders(),
      log,
      onReport(report) {
        const current = entries.get(identity.nodeId);
        if (current === undefined || !current.sessions.includes(session)) return;
        current.report = report;
        changed();
      },
      onChange: changed,
      onEnd: (reason) => ended(session, reason),
    });
    entry.sessions = [...previous, session];
    changed();
    log.info('tunnel opened', {
      nodeId: identity.nodeId,
      instance: identity.instance,
      remote: identity.remote,
      replaced: previous.length,
    });
    // One tunnel per node on a replica: a new dial means the node gave the old one up (or another process took the lease).
    for (const old of previous) void old.close('replaced by a newer tunnel', closeGraceMs);
  }

  async function join(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // 1. The shape of the request, and whether this replica takes tunnels now.
    const shape = checkUpgradeShape(req, deps.replica.id);
    if (!shape.ok) return refuse(socket, req, shape.reason, shape.message);
    if (draining || stopped) return refuse(socket, req, 'unavailable', 'this gateway replica is draining; dial again');
    // 2. Who it is: the token must be the current one of this node id.
    let who: Awaited<ReturnType<typeof authenticateNode>>;
    try {
      who = await authenticateNode(req.headers, deps.enrolments);
    } catch (err) {
      log.warn('tunnel auth unavailable', { err });
      return refuse(socket, req, 'unavailable', 'cannot check node tokens right now');
    }
    if (!who.ok) {
      return refuse(
        socket,
        req,
        who.reason,
        who.reason === 'malformed'
          ? `Authorization: Bearer <node token> and ${TunnelHeaders.nodeId} are required`
          : 'unknown node, wrong token for this node id, or revoked',
      );
    }
    // 3. One live process per node id.
    let held: boolean;
    try {
      held = await lease.hold(who.nodeId, shape.instance);
    } catch (err) {
      log.warn('node lease unavailable', { nodeId: who.nodeId, err });
      return refuse(socket, req, 'unavailable', 'cannot check the node lease right now');
    }
    if (!held) {
      log.warn('tunnel refused: another process holds this node id', { nodeId: who.nodeId, instance: shape.instance });
      return refuseUpgrade(socket, 'duplicate', `another process holds node id ${who.nodeId}`);
    }
    // 4. The node may have given up, or this replica begun draining, while we waited.
    if (socket.destroyed || draining || stopped) {
      if (!socket.destroyed) refuse(socket, req, 'unavailable', 'this gateway replica is draining; dial again');
      return releaseIfLast(who.nodeId, shape.instance);
    }
    open(socket, head, {
      nodeId: who.nodeId,
      instance: shape.instance,
      tokenDigest: who.enrolment.tokenDigest,
      remote: req.socket.remoteAddress,
    });
  }

  const sessionsByNode = (): Map<string, TunnelSession[]> =>
    new Map([...entries].map(([nodeId, e]) => [nodeId, e.sessions]));
  const pollEnrolments = createEnrolmentPoll({ sessions: sessionsByNode, enrolments: deps.enrolments, log });
  const renewLeases = createLeaseRenewal({ sessions: sessionsByNode, lease, log });

  const every = (ms: number, fn: () => Promise<void>): void => {
    const timer = setInterval(() => void fn(), ms);
    timer.unref();
    timers.push(timer);
  };

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', () => undefined); // a peer resetting mid-join is not ours to crash on
      join(req, socket, head).catch((err: unknown) => {
        log.error('tunnel join failed', { err });
        refuseUpgrade(socket, 'unavailable', 'the gateway could not open the tunnel');
      });
    },
    agentFor(nodeId) {
      const entry = entries.get(nodeId);
      return entry?.sessions.some((s) => s.live()) === true ? entry.agent : undefined;
    },
    reports() {
      // A session can stop taking streams a moment before it says so (Node destroys it on a socket error and
      // emits 'close' later): what agentFor() refuses must not stay routable meanwhile.
      if (!dirty) dirty = snapshot.some((r) => entries.get(r.nodeId)?.sessions.some((s) => s.live()) !== true);
      if (dirty) {
        dirty = false;
        const out: NodeReport[] = [];
        for (const entry of entries.values())
          if (entry.report !== undefined && entry.sessions.some((s) => s.live())) out.push(entry.report);
        snapshot = out.sort(byId);
      }
      return snapshot;
    },
    tunnelCounts() {
      const counts = new Map<string, number>();
      for (const [nodeId, entry] of entries) counts.set(nodeId, entry.sessions.filter((s) => s.live()).length);
      return counts;
    },
    replicas: () => replicas.live(),
    async start() {
      if (timers.length > 0) return;
      every(deps.enrolmentPollMs ?? 1_000, pollEnrolments);
      every(deps.leaseRenewMs ?? 5_000, renewLeases);
      await replicas.start();
    },
    drain() {
      if (draining) return;
      draining = true;
      void replicas.stop();
    },
    async stop() {
      stopped = true;
      for (const timer of timers.splice(0)) clearInterval(timer);
      const sessions = [...entries.values()].flatMap((e) => e.sessions);
      await Promise.all([...sessions.map((s) => s.close('gateway stopping', closeGraceMs)), replicas.stop()]);
    },
    close(nodeId) {
      for (const session of entries.get(nodeId)?.sessions ?? []) session.destroy('closed by the gateway');
    },
  };
}
