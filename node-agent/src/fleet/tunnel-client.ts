// The node's side of the fleet: one tunnel to every live gateway replica, re-dialled when lost.
//
// 1. The first dial goes to GATEWAY_URL with no replica header: whichever replica answers 101 names itself
//    and the live replicas (with direct URLs for some).
// 2. Every other live replica gets a dial of its own: to its direct URL when it has one, else to GATEWAY_URL
//    with the replica header (the edge routes on it).
// 3. A lost tunnel is re-dialled with jittered exponential backoff; with no tunnel open at all, the node dials
//    GATEWAY_URL without a replica header again, so a changed set of replicas cannot strand it.
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import { setTimeout as delay } from 'node:timers/promises';
import { errorCode, redactedUrl, TunnelRefusal, type Logger } from '@switchyard/shared';
import { createBackoff, type Backoff, type BackoffOptions } from './backoff.js';
import { gatewayUrlProblem } from './gateway-url.js';
import { dialTunnel, type DialOptions, type DialOutcome, type DialTarget, type ReplicaInfo } from './tunnel-dial.js';
import { serveTunnel, type TunnelEnd, type TunnelSession } from './tunnel-session.js';

/** What the tunnel client needs; main.ts builds it from the config. */
export interface TunnelClientDeps {
  gatewayUrl: URL;
  nodeId: string;
  token: string;
  /** GATEWAY_ALLOW_HTTP: also for the direct replica URLs a gateway hands out. */
  allowHttp: boolean;
  /** Answers each tunnel's state stream. */
  onStateStream(stream: ServerHttp2Stream): void;
  /** The node's HTTP/1.1 server for client requests. */
  connections: Server;
  log: Logger;
  pingIntervalMs: number;
  pingTimeoutMs: number;
  /** Default: 32 random bytes, hex. */
  instance?: string;
  backoff?: BackoffOptions;
  /** Waits between attempts; resolves early (or rejects) when the signal aborts. */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Replaces the dial (tests). */
  dial?: (opts: DialOptions) => Promise<DialOutcome>;
  /** Extra trust for https gateways (tests). */
  ca?: string | Buffer;
  dialTimeoutMs?: number;
  /** Told whenever a tunnel opens or closes. */
  onChange?(): void;
  /** Told how every dial ended: open, refused_<status>, unreachable (metrics). */
  onDial?(outcome: string): void;
  /** A tunnel that lived this long counts as healthy: its loss is re-dialled at once. Default 10 s. */
  healthyAfterMs?: number;
  now?: () => number;
}

/** The running client. */
export interface TunnelClient {
  /** Starts dialling; returns at once. */
  start(): void;
  /** Stops dialling new tunnels; open ones stay (drain). */
  stopDialing(): void;
  /** Stops dialling and closes every tunnel: GOAWAY, running streams finish, destroyed after graceMs. */
  stop(graceMs: number): Promise<void>;
  /** The replicas with an open tunnel (an unnamed replica shows as ''). */
  connected(): string[];
  /** The replicas as the gateways last listed them. */
  replicas(): ReplicaInfo[];
  /** This process's instance id (sent on every dial). */
  readonly instance: string;
}

/** A dialler: one per replica, plus the seed that dials GATEWAY_URL without a replica header. */
interface Slot {
  readonly id: string | undefined;
  readonly backoff: Backoff;
  nextDelayMs: number;
  dialing: boolean;
}

interface OpenTunnel {
  replica: string;
  session: TunnelSession;
  openedAt: number;
}

const UNNAMED = '';

async function defaultSleep(ms: number, signal: AbortSignal): Promise<void> {
  await delay(ms, undefined, { signal, ref: false }).catch(() => undefined);
}

/**
 * Creates the client; nothing is dialled until start().
 * @example
 * const tunnels = createTunnelClient({ gatewayUrl, nodeId, token, allowHttp, onStateStream: reports.attach, connections, log, pingIntervalMs, pingTimeoutMs });
 * tunnels.start();
 */
export function createTunnelClient(deps: TunnelClientDeps): TunnelClient {
  const { log } = deps;
  const instance = deps.instance ?? randomBytes(32).toString('hex');
  const identity = { nodeId: deps.nodeId, token: deps.token, instance };
  const sleep = deps.sleep ?? defaultSleep;
  const dial = deps.dial ?? dialTunnel;
  const now = deps.now ?? Date.now;
  const healthyAfterMs = deps.healthyAfterMs ?? 10_000;
  const gateway = redactedUrl(deps.gatewayUrl.toString());
  const abort = new AbortController();

  const seed: Slot = { id: undefined, backoff: createBackoff(deps.backoff), nextDelayMs: 0, dialing: false };
  const slots = new Map<string, Slot>();
  const tunnels = new Map<string, OpenTunnel>();
  // Every session not yet closed, including those past a GOAWAY that still finish their streams.
  const sessions = new Set<TunnelSession>();
  let wanted: ReplicaInfo[] = [];
  let started = false;
  let dialingStopped = false;
  // Conditions already logged in the current run of failures, so a long outage writes one line, not one per dial.
  const logged = new Set<string>();

  function once(key: string, write: () => void): void {
    if (logged.has(key)) return;
    logged.add(key);
    write();
  }

  function slotOf(id: string): Slot {
    let slot = slots.get(id);
    if (!slot) {
      slot = { id, backoff: createBackoff(deps.backoff), nextDelayMs: 0, dialing: false };
      slots.set(id, slot);
    }
    return slot;
  }

  function targetOf(slot: Slot): DialTarget {
    if (slot.id === undefined) return { url: deps.gatewayUrl };
    const direct = wanted.find((r) => r.id === slot.id)?.url;
    if (direct !== undefined) {
      let url: URL | undefined;
      try {
        url = new URL(direct);
      } catch {
        url = undefined;
      }
      const problem = url === undefined ? 'not a URL' : gatewayUrlProblem(url, deps.allowHttp);
      // The replica header rides along: a direct URL that reaches another replica is answered 421, not served.
      if (url !== undefined && problem === undefined) return { url, replica: slot.id };
      once(`direct:${slot.id}`, () =>
        log.warn('replica url not used', { replica: slot.id, reason: problem, using: gateway }),
      );
    }
    return { url: deps.gatewayUrl, replica: slot.id };
  }

  function isWanted(id: string): boolean {
    return wanted.some((r) => r.id === id);
  }

  function reconcile(): void {
    if (!started || dialingStopped) return;
    if (tunnels.size === 0) {
      schedule(seed);
      return;
    }
    for (const replica of wanted) if (!tunnels.has(replica.id)) schedule(slotOf(replica.id));
  }

  /** Whether this slot should dial now (the state may have moved on while it slept). */
  function stillNeeded(slot: Slot): boolean {
    if (dialingStopped) return false;
    if (slot.id === undefined) return tunnels.size === 0;
    return tunnels.size > 0 && isWanted(slot.id) && !tunnels.has(slot.id);
  }

  function schedule(slot: Slot): void {
    if (slot.dialing) return;
    slot.dialing = true;
    void (async () => {
      try {
        if (slot.nextDelayMs > 0) await sleep(slot.nextDelayMs, abort.signal);
        if (stillNeeded(slot)) await attempt(slot);
      } catch (err) {
        log.error('tunnel dial failed', { err });
        slot.nextDelayMs = slot.backoff.fail();
      } finally {
        slot.dialing = false;
        reconcile();
      }
    })();
  }

  function learn(replicas: ReplicaInfo[] | undefined, answering: string): void {
    if (replicas === undefined) {
      if (answering !== UNNAMED && !isWanted(answering)) wanted = [...wanted, { id: answering }];
      return;
    }
    wanted =
      replicas.some((r) => r.id === answering) || answering === UNNAMED ? replicas : [...replicas, { id: answering }];
  }

  function refused(slot: Slot, outcome: Extract<DialOutcome, { kind: 'refused' }>): void {
    const fields = { nodeId: deps.nodeId, gateway, replica: slot.id, status: outcome.status, code: outcome.code };
    switch (outcome.status) {
      case TunnelRefusal.unauthenticated.status:
        once('unauthenticated', () =>
          log.error('node token refused (revoked or wrong)', {
            ...fields,
            fix: `create a token for this node id on the gateway (\`switchyard nodes add ${deps.nodeId}\`, or \`switchyard nodes rotate ${deps.nodeId}\`) and set NODE_TOKEN and NODE_ID to it`,
          }),
        );
        slot.nextDelayMs = slot.backoff.slowest();
        return;
      case TunnelRefusal.duplicate.status:
        once('duplicate', () =>
          log.error('another process holds this node id', {
            ...fields,
            fix: 'stop the other node-agent started with this NODE_ID (each id serves from one process), or enrol this host under an id of its own',
          }),
        );
        break;
      case TunnelRefusal.misdirected.status:
        once(`misdirected:${slot.id ?? ''}`, () => log.warn('replica not reached through the gateway url', fields));
        break;
      case TunnelRefusal.unavailable.status:
        once(`unavailable:${slot.id ?? ''}`, () =>
          log.info('gateway unavailable, retrying', { ...fields, reason: outcome.message }),
        );
        break;
      case TunnelRefusal.malformed.status:
        once('malformed', () =>
          log.error('tunnel request refused as malformed', { ...fields, reason: outcome.message }),
        );
        slot.nextDelayMs = slot.backoff.slowest();
        return;
      default:
        once(`refused:${slot.id ?? ''}:${outcome.status}`, () =>
          log.warn('tunnel upgrade refused', {
            ...fields,
            fix: 'check that GATEWAY_URL is the gateway (or its edge) and that it runs this release line',
          }),
        );
    }
    slot.nextDelayMs = slot.backoff.fail();
  }

  async function attempt(slot: Slot): Promise<void> {
    const target = targetOf(slot);
    let outcome: DialOutcome;
    try {
      outcome = await dial({
        target,
        identity,
        ...(deps.dialTimeoutMs === undefined ? {} : { timeoutMs: deps.dialTimeoutMs }),
        ...(deps.ca === undefined ? {} : { ca: deps.ca }),
      });
    } catch (err) {
      deps.onDial?.('unreachable');
      once(`unreachable:${slot.id ?? ''}`, () =>
        log.warn('gateway unreachable, retrying', {
          gateway: redactedUrl(target.url.toString()),
          replica: slot.id,
          errorCode: errorCode(err),
          reason: err instanceof Error ? err.message : String(err),
        }),
      );
      slot.nextDelayMs = slot.backoff.fail();
      return;
    }
    deps.onDial?.(outcome.kind === 'open' ? 'open' : `refused_${outcome.status}`);
    if (outcome.kind === 'refused') return refused(slot, outcome);
    const replica = outcome.replica ?? UNNAMED;
    learn(outcome.replicas, replica);
    // Dialled for one replica, answered by another (an edge that ignores the header): that counts as a miss.
    if (slot.id !== undefined && slot.id !== replica) slot.nextDelayMs = slot.backoff.fail();
    if (dialingStopped || tunnels.has(replica)) {
      // Never a second tunnel to one replica (another dial reached it first).
      outcome.socket.destroy();
      return;
    }
    logged.clear();
    adopt(replica, outcome, target);
  }

  function adopt(replica: string, outcome: Extract<DialOutcome, { kind: 'open' }>, target: DialTarget): void {
    const session = serveTunnel({
      socket: outcome.socket,
      head: outcome.head,
      onStateStream: (stream) => deps.onStateStream(stream),
      connections: deps.connections,
      onReplicas: (replicas) => {
        learn(replicas, replica);
        reconcile();
      },
      log: log.child({ replica }),
      pingIntervalMs: deps.pingIntervalMs,
      pingTimeoutMs: deps.pingTimeoutMs,
    });
    sessions.add(session);
    void session.closed.then(() => sessions.delete(session));
    const open: OpenTunnel = { replica, session, openedAt: now() };
    tunnels.set(replica, open);
    log.info('tunnel open', {
      replica: replica === UNNAMED ? undefined : replica,
      gateway: redactedUrl(target.url.toString()),
      replicas: wanted.map((r) => r.id),
      tunnels: tunnels.size,
    });
    deps.onChange?.();
    void session.gone.then((why) => lost(open, why));
  }

  function lost(open: OpenTunnel, why: TunnelEnd): void {
    if (tunnels.get(open.replica) !== open) return;
    tunnels.delete(open.replica);
    const livedMs = now() - open.openedAt;
    // A tunnel that dies right after its 101 (a crashing replica) must not turn into a dial loop.
    const slot = open.replica === UNNAMED ? undefined : slotOf(open.replica);
    for (const s of [seed, slot]) {
      if (s === undefined) continue;
      if (livedMs >= healthyAfterMs) {
        s.backoff.reset();
        s.nextDelayMs = 0;
      } else s.nextDelayMs = s.backoff.fail();
    }
    const fields = {
      replica: open.replica === UNNAMED ? undefined : open.replica,
      reason: why,
      livedMs,
      tunnels: tunnels.size,
    };
    if (why === 'shutdown') log.info('tunnel closed', fields);
    else log.warn('tunnel lost', fields);
    // After a GOAWAY (a replica draining) Node closes the old session once its running streams finish (the
    // gateway cuts it at its own drain deadline); the new tunnel takes new ones.
    deps.onChange?.();
    reconcile();
  }

  return {
    instance,
    start() {
      if (started) return;
      started = true;
      reconcile();
    },
    stopDialing() {
      dialingStopped = true;
      abort.abort();
    },
    async stop(graceMs) {
      dialingStopped = true;
      abort.abort();
      await Promise.all([...sessions].map((session) => session.close(graceMs)));
    },
    connected: () => [...tunnels.keys()],
    replicas: () => [...wanted],
  };
}
