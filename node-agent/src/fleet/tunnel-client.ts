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
  return new FleetTunnelClient(deps);
}

/** The tunnels to the gateway replicas: one dialler (slot) per replica plus the seed, and the tunnels they opened. */
export class FleetTunnelClient implements TunnelClient {
  readonly instance: string;
  readonly #deps: TunnelClientDeps;
  readonly #log: Logger;
  readonly #identity: DialOptions['identity'];
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #dial: (opts: DialOptions) => Promise<DialOutcome>;
  readonly #now: () => number;
  readonly #healthyAfterMs: number;
  readonly #gateway: string;
  readonly #abort = new AbortController();
  readonly #seed: Slot;
  readonly #slots = new Map<string, Slot>();
  readonly #tunnels = new Map<string, OpenTunnel>();
  // Every session not yet closed, including those past a GOAWAY that still finish their streams.
  readonly #sessions = new Set<TunnelSession>();
  #wanted: ReplicaInfo[] = [];
  #started = false;
  #dialingStopped = false;
  // Conditions already logged in the current run of failures, so a long outage writes one line, not one per dial.
  readonly #logged = new Set<string>();

  constructor(deps: TunnelClientDeps) {
    this.#deps = deps;
    this.#log = deps.log;
    this.instance = deps.instance ?? randomBytes(32).toString('hex');
    this.#identity = { nodeId: deps.nodeId, token: deps.token, instance: this.instance };
    this.#sleep = deps.sleep ?? defaultSleep;
    this.#dial = deps.dial ?? dialTunnel;
    this.#now = deps.now ?? Date.now;
    this.#healthyAfterMs = deps.healthyAfterMs ?? 10_000;
    this.#gateway = redactedUrl(deps.gatewayUrl.toString());
    this.#seed = { id: undefined, backoff: createBackoff(deps.backoff), nextDelayMs: 0, dialing: false };
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#reconcile();
  }

  stopDialing(): void {
    this.#dialingStopped = true;
    this.#abort.abort();
  }

  async stop(graceMs: number): Promise<void> {
    this.#dialingStopped = true;
    this.#abort.abort();
    await Promise.all([...this.#sessions].map((session) => session.close(graceMs)));
  }

  connected(): string[] {
    return [...this.#tunnels.keys()];
  }

  replicas(): ReplicaInfo[] {
    return [...this.#wanted];
  }

  #once(key: string, write: () => void): void {
    if (this.#logged.has(key)) return;
    this.#logged.add(key);
    write();
  }

  #slotOf(id: string): Slot {
    let slot = this.#slots.get(id);
    if (!slot) {
      slot = { id, backoff: createBackoff(this.#deps.backoff), nextDelayMs: 0, dialing: false };
      this.#slots.set(id, slot);
    }
    return slot;
  }

  #targetOf(slot: Slot): DialTarget {
    const { gatewayUrl } = this.#deps;
    if (slot.id === undefined) return { url: gatewayUrl };
    const direct = this.#wanted.find((r) => r.id === slot.id)?.url;
    if (direct !== undefined) {
      const url = parsedUrl(direct);
      const problem = url === undefined ? 'not a URL' : gatewayUrlProblem(url, this.#deps.allowHttp);
      // The replica header rides along: a direct URL that reaches another replica is answered 421, not served.
      if (url !== undefined && problem === undefined) return { url, replica: slot.id };
      this.#once(`direct:${slot.id}`, () =>
        this.#log.warn('replica url not used', { replica: slot.id, reason: problem, using: this.#gateway }),
      );
    }
    return { url: gatewayUrl, replica: slot.id };
  }

  #isWanted(id: string): boolean {
    return this.#wanted.some((r) => r.id === id);
  }

  #reconcile(): void {
    if (!this.#started || this.#dialingStopped) return;
    if (this.#tunnels.size === 0) {
      this.#schedule(this.#seed);
      return;
    }
    for (const replica of this.#wanted) if (!this.#tunnels.has(replica.id)) this.#schedule(this.#slotOf(replica.id));
  }

  /** Whether this slot should dial now (the state may have moved on while it slept). */
  #stillNeeded(slot: Slot): boolean {
    if (this.#dialingStopped) return false;
    if (slot.id === undefined) return this.#tunnels.size === 0;
    return this.#tunnels.size > 0 && this.#isWanted(slot.id) && !this.#tunnels.has(slot.id);
  }

  #schedule(slot: Slot): void {
    if (slot.dialing) return;
    slot.dialing = true;
    void this.#sleepThenDial(slot);
  }

  async #sleepThenDial(slot: Slot): Promise<void> {
    try {
      if (slot.nextDelayMs > 0) await this.#sleep(slot.nextDelayMs, this.#abort.signal);
      if (this.#stillNeeded(slot)) await this.#attempt(slot);
    } catch (err) {
      this.#log.error('tunnel dial failed', { err });
      slot.nextDelayMs = slot.backoff.fail();
    } finally {
      slot.dialing = false;
      this.#reconcile();
    }
  }

  #learn(replicas: ReplicaInfo[] | undefined, answering: string): void {
    if (replicas === undefined) {
      if (answering !== UNNAMED && !this.#isWanted(answering)) this.#wanted = [...this.#wanted, { id: answering }];
      return;
    }
    this.#wanted =
      replicas.some((r) => r.id === answering) || answering === UNNAMED ? replicas : [...replicas, { id: answering }];
  }

  #refused(slot: Slot, outcome: Extract<DialOutcome, { kind: 'refused' }>): void {
    const { nodeId } = this.#deps;
    const log = this.#log;
    const fields = { nodeId, gateway: this.#gateway, replica: slot.id, status: outcome.status, code: outcome.code };
    switch (outcome.status) {
      case TunnelRefusal.unauthenticated.status:
        this.#once('unauthenticated', () =>
          log.error('node token refused (revoked or wrong)', {
            ...fields,
            fix: `create a token for this node id on the gateway (\`switchyard nodes add ${nodeId}\`, or \`switchyard nodes rotate ${nodeId}\`) and set NODE_TOKEN and NODE_ID to it`,
          }),
        );
        slot.nextDelayMs = slot.backoff.slowest();
        return;
      case TunnelRefusal.duplicate.status:
        this.#once('duplicate', () =>
          log.error('another process holds this node id', {
            ...fields,
            fix: 'stop the other node-agent started with this NODE_ID (each id serves from one process), or enrol this host under an id of its own',
          }),
        );
        break;
      case TunnelRefusal.misdirected.status:
        this.#once(`misdirected:${slot.id ?? ''}`, () =>
          log.warn('replica not reached through the gateway url', fields),
        );
        break;
      case TunnelRefusal.unavailable.status:
        this.#once(`unavailable:${slot.id ?? ''}`, () =>
          log.info('gateway unavailable, retrying', { ...fields, reason: outcome.message }),
        );
        break;
      case TunnelRefusal.malformed.status:
        this.#once('malformed', () =>
          log.error('tunnel request refused as malformed', { ...fields, reason: outcome.message }),
        );
        slot.nextDelayMs = slot.backoff.slowest();
        return;
      default:
        this.#once(`refused:${slot.id ?? ''}:${outcome.status}`, () =>
          log.warn('tunnel upgrade refused', {
            ...fields,
            fix: 'check that GATEWAY_URL is the gateway (or its edge) and that it runs this release line',
          }),
        );
    }
    slot.nextDelayMs = slot.backoff.fail();
  }

  async #attempt(slot: Slot): Promise<void> {
    const target = this.#targetOf(slot);
    let outcome: DialOutcome;
    try {
      outcome = await this.#dial({
        target,
        identity: this.#identity,
        ...(this.#deps.dialTimeoutMs === undefined ? {} : { timeoutMs: this.#deps.dialTimeoutMs }),
        ...(this.#deps.ca === undefined ? {} : { ca: this.#deps.ca }),
      });
    } catch (err) {
      this.#unreachable(slot, target, err);
      return;
    }
    this.#deps.onDial?.(outcome.kind === 'open' ? 'open' : `refused_${outcome.status}`);
    if (outcome.kind === 'refused') return this.#refused(slot, outcome);
    const replica = outcome.replica ?? UNNAMED;
    this.#learn(outcome.replicas, replica);
    // Dialled for one replica, answered by another (an edge that ignores the header): that counts as a miss.
    if (slot.id !== undefined && slot.id !== replica) slot.nextDelayMs = slot.backoff.fail();
    if (this.#dialingStopped || this.#tunnels.has(replica)) {
      // Never a second tunnel to one replica (another dial reached it first).
      outcome.socket.destroy();
      return;
    }
    this.#logged.clear();
    this.#adopt(replica, outcome, target);
  }

  #unreachable(slot: Slot, target: DialTarget, err: unknown): void {
    this.#deps.onDial?.('unreachable');
    this.#once(`unreachable:${slot.id ?? ''}`, () =>
      this.#log.warn('gateway unreachable, retrying', {
        gateway: redactedUrl(target.url.toString()),
        replica: slot.id,
        errorCode: errorCode(err),
        reason: err instanceof Error ? err.message : String(err),
      }),
    );
    slot.nextDelayMs = slot.backoff.fail();
  }

  #adopt(replica: string, outcome: Extract<DialOutcome, { kind: 'open' }>, target: DialTarget): void {
    const deps = this.#deps;
    const session = serveTunnel({
      socket: outcome.socket,
      head: outcome.head,
      onStateStream: (stream) => deps.onStateStream(stream),
      connections: deps.connections,
      onReplicas: (replicas) => {
        this.#learn(replicas, replica);
        this.#reconcile();
      },
      log: this.#log.child({ replica }),
      pingIntervalMs: deps.pingIntervalMs,
      pingTimeoutMs: deps.pingTimeoutMs,
    });
    this.#sessions.add(session);
    void session.closed.then(() => this.#sessions.delete(session));
    const open: OpenTunnel = { replica, session, openedAt: this.#now() };
    this.#tunnels.set(replica, open);
    this.#log.info('tunnel open', {
      replica: replica === UNNAMED ? undefined : replica,
      gateway: redactedUrl(target.url.toString()),
      replicas: this.#wanted.map((r) => r.id),
      tunnels: this.#tunnels.size,
    });
    deps.onChange?.();
    void session.gone.then((why) => this.#lost(open, why));
  }

  #lost(open: OpenTunnel, why: TunnelEnd): void {
    if (this.#tunnels.get(open.replica) !== open) return;
    this.#tunnels.delete(open.replica);
    const livedMs = this.#now() - open.openedAt;
    // A tunnel that dies right after its 101 (a crashing replica) must not turn into a dial loop.
    const slot = open.replica === UNNAMED ? undefined : this.#slotOf(open.replica);
    for (const s of [this.#seed, slot]) {
      if (s === undefined) continue;
      if (livedMs >= this.#healthyAfterMs) {
        s.backoff.reset();
        s.nextDelayMs = 0;
      } else s.nextDelayMs = s.backoff.fail();
    }
    const fields = {
      replica: open.replica === UNNAMED ? undefined : open.replica,
      reason: why,
      livedMs,
      tunnels: this.#tunnels.size,
    };
    if (why === 'shutdown') this.#log.info('tunnel closed', fields);
    else this.#log.warn('tunnel lost', fields);
    // After a GOAWAY (a replica draining) Node closes the old session once its running streams finish (the
    // gateway cuts it at its own drain deadline); the new tunnel takes new ones.
    this.#deps.onChange?.();
    this.#reconcile();
  }
}

function parsedUrl(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}
