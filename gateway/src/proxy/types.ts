// The forwarder's vocabulary: what the routes hand it and what it reports back.
import type { Agent, IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AppError, Logger } from '@switchyard/shared';
import type { ResponseTranslation } from '../openai/types.js';
import type { NodeView } from '../routing/index.js';

/** One client request, ready to go to a node: the routes parsed and chose, the forwarder only moves bytes. */
export interface ForwardJob {
  requestId: string;
  keyId: string;
  method: string;
  /** Path and query as received, e.g. '/v1/messages?beta=true'. */
  path: string;
  /** The original body bytes; sent as they are, never re-serialised. */
  body: Buffer;
  /** Ordered: the preferred node first, then the failover candidates. */
  candidates: NodeView[];
  model?: string;
  stream: boolean;
  /** Sees the response the client gets (never the node answers failed over from), e.g. the usage capture. */
  observer?: ResponseObserver;
  /** Headers the node request carries over the client's (a translated request's `anthropic-version`). */
  headers?: Readonly<Record<string, string>>;
  /**
   * The client speaks another format than the node (docs/OPENAI.md): the node's answer goes through it, and the
   * gateway's own errors are written in the client's envelope. The observer still sees the node's bytes.
   */
  translation?: ResponseTranslation;
  /** The request's `forward` span (tracing on; none: tracing off, and the forwarder makes no tracing call at all). */
  trace?: ForwardTrace;
}

/**
 * What the forwarder tells the request's trace (docs/TRACING.md): one `tunnel hop` per attempt, a `failover`
 * event per node given up, the node that answered, the gateway's own error answer.
 */
export interface ForwardTrace {
  /** `traceresponse` for the client: the request span's traceparent (none when its context is not valid). */
  readonly traceresponse: string | undefined;
  /** An attempt on `nodeId` begins: its span, and the attempt's headers carrying the span's traceparent. */
  hop(nodeId: string, method: string, headers: IncomingHttpHeaders): HopTrace;
  /** The request moves on from `nodeId`. */
  failover(nodeId: string, reason: FailoverReason): void;
  /** The client gets `nodeId`'s answer. */
  answered(nodeId: string): void;
  /** No node answered: the gateway answers `err` (sets `traceresponse` on the response too). */
  failed(err: AppError): void;
}

/** One attempt on one node, a CLIENT span. */
export interface HopTrace {
  /** The attempt's headers: a copy of the request's with this hop's `traceparent` (and `tracestate`). */
  readonly headers: IncomingHttpHeaders;
  /** The node's response head. */
  responded(status: number): void;
  /** The first body bytes went to the client. */
  firstByte(): void;
  /** The node could not be reached (`code`: the socket error's). */
  unreachable(code: string | undefined): void;
  /** The node's answer broke off after its head (the client got a terminal SSE error or a cut body). */
  broken(): void;
  end(): void;
}

/**
 * Watches the one response relayed to the client, as it passes. Called after each chunk was handed to
 * the client, so it never delays the bytes; it must not buffer without bound or throw (a throw stops
 * the observation, not the relay).
 */
export interface ResponseObserver {
  /** The node's status and headers, once, before any chunk. */
  onHead(status: number, headers: IncomingHttpHeaders): void;
  /** Each body chunk as the node sent it (still content-encoded, if it was). */
  onChunk(chunk: Buffer): void;
}

/** What happened to a forwarded request (for the request's log line and the sticky store). */
export interface ForwardOutcome {
  /** The node whose answer the client got (or the last one tried). */
  nodeId?: string;
  /** The status the client got; 499 when the client went away before a response head was sent. */
  status: number;
  /** How many times another node was tried after a failed one. */
  failovers: number;
  /** Milliseconds from forward() to the first body byte written to the client. */
  ttfbMs?: number;
  /** The client hung up before the response ended. */
  aborted: boolean;
  /** The node's response broke off after the first byte (the client got a terminal error event). */
  brokeMidStream: boolean;
  /** The `request-id` the node answered with (Anthropic's, passed through). */
  upstreamRequestId?: string;
}

/** Why a request left a node for the next one: its status (429, 529, other 5xx) or no connection. */
export type FailoverReason = 'rate_limited' | 'overloaded' | 'server_error' | 'unreachable';

/** Moves requests to nodes with failover before the first byte. */
export interface Forwarder {
  /** Answers `res` from one of `job.candidates`; never rejects (failures are answered and reported in the outcome). */
  forward(req: IncomingMessage, res: ServerResponse, job: ForwardJob): Promise<ForwardOutcome>;
  /** Requests this gateway instance has open on the node right now. */
  inFlight(nodeId: string): number;
}

/** Dependencies of createForwarder. */
export interface ForwarderDeps {
  /** The node's tunnel agent (TunnelHub.agentFor); undefined when it has no live tunnel here (then it counts as unreachable). */
  agentFor(nodeId: string): Agent | undefined;
  log: Logger;
  /** Every node response (also the ones failed over from), so the registry can bench a limited account at once. */
  onNodeResponse(nodeId: string, status: number, headers: IncomingHttpHeaders, model: string | undefined): void;
  /** A node had no live tunnel, or its stream failed before the response head. */
  onNodeUnreachable(nodeId: string): void;
  /** The request moves on from `nodeId` to the next candidate (for the metrics). */
  onFailover?(nodeId: string, reason: FailoverReason): void;
  /** Further nodes tried after the first one fails before the first byte. Default 2. */
  maxFailovers?: number;
  /** Base of the jittered pause before trying the next node (0.5x to 1.5x of it). Default 25. */
  retryDelayMs?: number;
}
