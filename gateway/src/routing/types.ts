// The routing vocabulary the rest of the gateway (proxy, admin, app) speaks.
import type { IncomingHttpHeaders } from 'node:http';
import type { AccountState, AppError, NodeReport } from '@switchyard/shared';

/** One node as this gateway instance sees it: the node's report plus what only the gateway knows. */
export interface NodeView {
  /** The node's latest report over its tunnel to this replica. */
  record: NodeReport;
  /** An operator drained it through the admin API (keys.nodeControl); it takes no new requests. */
  adminDrained: boolean;
  /** The account state as updated from responses this instance saw, until a newer report supersedes it. */
  localState?: AccountState;
  /** Epoch ms until which the node counts as unreachable (a refused connection seen by this instance). */
  unreachableUntil?: number;
}

/** The fleet as this replica's tunnels report it, which routing reads on the request path (no Redis round trip). */
export interface RegistrySnapshot {
  /** Starts the background refresh of the drain flags (first read at once). */
  start(): void;
  /** Stops the refresh; the last flags stay. */
  stop(): void;
  /** The nodes with a live tunnel here, sorted by node id. */
  nodes(): NodeView[];
  /** Reads the drain flags now (rejects when Redis fails; the last ones are kept). */
  refreshNow(): Promise<void>;
  /** A node answered: update its local view from the response headers (e.g. a 429 window rejection benches it at once, before its next report). */
  observe(nodeId: string, status: number, headers: IncomingHttpHeaders, model: string | undefined): void;
  /** A node could not be reached: treat as unavailable for a short cool-down (e.g. 5 s). */
  markUnreachable(nodeId: string): void;
  /** Whether the last drain-flag read from Redis succeeded. */
  redisHealthy(): boolean;
}

/** Where a session key came from, most to least reliable. */
export type SessionSource = 'header' | 'metadata' | 'prompt';

/** A conversation's identity for stickiness: sha256 hex, usable in keys.sticky(keyId, key). */
export interface SessionKey {
  key: string;
  source: SessionSource;
}

/** The parsed request fields sessionKeyOf looks at. */
export interface SessionBody {
  system?: unknown;
  messages?: unknown;
  metadata?: unknown;
}

/** Which node a conversation sticks to, shared through Redis, with a local fallback. */
export interface StickyStore {
  /**
   * The node the session last ran on: at once from the local map when this instance knows the session
   * (re-read from Redis in the background when that is due); else from Redis within the bounded timeout,
   * or from the local map when Redis is slow or down.
   */
  lookup(keyId: string, sessionHash: string): Promise<string | undefined>;
  /** Records (and renews) the mapping: local map at once, Redis fire-and-forget with the TTL (a renewal at most every 1% of it). */
  remember(keyId: string, sessionHash: string, nodeId: string): void;
}

/** Inputs of chooseNodes. */
export interface ChooseOptions {
  /** The requested model (its family decides per-family limits); undefined when the body has none. */
  model: string | undefined;
  /** The node this conversation stuck to, if any. */
  stickyNodeId?: string;
  /** This gateway's in-flight count for the node. */
  inFlight(nodeId: string): number;
  nowMs: number;
  /** Breaks exact ties (injectable for tests); Math.random by default. */
  random?: () => number;
}

/** The outcome of chooseNodes: the preferred node first, then failover candidates; or the error to answer with. */
export type ChooseResult = { ok: true; order: NodeView[]; stickyHit: boolean } | { ok: false; error: AppError };
