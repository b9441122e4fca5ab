import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  AppError,
  forwardableRequestHeaders,
  forwardableResponseHeaders,
  writeErrorResponse,
  type Logger,
} from '@switchyard/shared';
import type { NodeView } from '../routing/index.js';
import { attemptHeaders, isFailoverStatus, wirePath, withTraceResponse } from './header-policy.js';
import { createNodeRequester, type NodeHead, type NodeRequester } from './node-request.js';
import { relayBody } from './relay-body.js';
import type {
  FailoverReason,
  ForwardJob,
  ForwardOutcome,
  Forwarder,
  ForwarderDeps,
  HopTrace,
  ResponseObserver,
} from './types.js';

// nginx's convention for "the client closed the request before the response".
const CLIENT_CLOSED = 499;
// What a request's target looks like to http-proxy-3: the node is reached through its tunnel agent, so
// the name only fills the Host header.
const NODE_TARGET = new URL('http://node.tunnel.invalid');

/** The gateway's own error, in the client's envelope (a translated route's, else Anthropic's). */
function answerError(res: ServerResponse, err: AppError, job: ForwardJob): void {
  job.trace?.failed(err);
  const translation = job.translation;
  writeErrorResponse(
    res,
    err,
    job.requestId,
    translation === undefined ? undefined : (e, id) => translation.errorBody(e, id),
  );
}

// A translated body has its own type and length (it is chunked): the node's describe the node's bytes.
const NODE_BODY_HEADERS = new Set(['content-type', 'content-length', 'content-encoding', 'transfer-encoding']);

/** The node's response headers for a translated body. */
function translatedHeaders(raw: string[], contentType: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (!NODE_BODY_HEADERS.has((raw[i] as string).toLowerCase())) out.push(raw[i] as string, raw[i + 1] as string);
  }
  out.push('content-type', contentType);
  return out;
}

/** One client request across its attempts. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  job: ForwardJob;
  outcome: ForwardOutcome;
  started: number;
  /** The client's headers as they may reach a node, plus the forward headers (computed once, for every attempt). */
  headers: IncomingHttpHeaders;
  /** The path as it goes on the wire. */
  path: string;
}

/** The failover reason a status gives (429, 529, else a 5xx). */
function statusReason(status: number): FailoverReason {
  return status === 429 ? 'rate_limited' : status === 529 ? 'overloaded' : 'server_error';
}

/** No node could be reached: a 504 when the last one timed out, else a 502. */
function answerUnreachable(x: Exchange, code: string | undefined): void {
  const err =
    code === 'ETIMEDOUT'
      ? new AppError('upstream_timeout', 'No node accepted the connection in time')
      : new AppError('upstream_unreachable', 'No node could be reached');
  answerError(x.res, err, x.job);
  x.outcome.status = err.status;
}

/** A short jittered pause before the next node (0.5x to 1.5x of `retryDelayMs`). */
async function pause(retryDelayMs: number): Promise<void> {
  const ms = retryDelayMs * (0.5 + Math.random());
  await new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * The gateway's forwarding: sends the original body bytes through http-proxy-3 on the node's tunnel
 * (an agent whose connection is one HTTP/2 stream per request), and fails over before the first byte.
 *
 * Per attempt: a node without a live tunnel, a stream that cannot be opened or breaks before the
 * head, 429, 529 or other 5xx but 504 moves on to the next candidate (at most `maxFailovers` more, after a
 * short jittered pause) as long as nothing reached the client; the last attempt's answer passes through
 * unchanged (status, body, retry-after, rate-limit headers), or a 502/504 envelope when no node answered.
 * Every node answer goes to `onNodeResponse`, every unreachable node to `onNodeUnreachable`. Once the
 * head is sent there is no retry: a stream that breaks ends with a terminal SSE error event. A client
 * that hangs up destroys the node request at once (its tunnel stream half-closed, the node resets it).
 *
 * A job with a trace (tracing on) gets a `tunnel hop` span per attempt, whose traceparent goes to that node in a
 * copy of the request's headers, a `failover` event per node given up, and its `traceresponse` on the answer. A job
 * without one costs nothing more: no span, no copy.
 *
 * @example
 * const forwarder = createForwarder({ agentFor: (id) => hub.agentFor(id), log, onNodeResponse, onNodeUnreachable });
 * const outcome = await forwarder.forward(req, res, { requestId, keyId, method: 'POST', path: req.originalUrl, body, candidates, stream: true });
 */
export function createForwarder(deps: ForwarderDeps): Forwarder {
  return new TunnelForwarder(deps);
}

class TunnelForwarder implements Forwarder {
  readonly #deps: ForwarderDeps;
  readonly #maxFailovers: number;
  readonly #retryDelayMs: number;
  readonly #requester: NodeRequester;
  /** Requests open per node. */
  readonly #open = new Map<string, number>();

  constructor(deps: ForwarderDeps) {
    this.#deps = deps;
    this.#maxFailovers = deps.maxFailovers ?? 2;
    this.#retryDelayMs = deps.retryDelayMs ?? 25;
    this.#requester = createNodeRequester({
      onProxyError: (err) => deps.log.warn('proxy error without a request', { err }),
    });
  }

  async forward(req: IncomingMessage, res: ServerResponse, job: ForwardJob): Promise<ForwardOutcome> {
    const outcome: ForwardOutcome = { status: 0, failovers: 0, aborted: false, brokeMidStream: false };
    const tries = Math.min(job.candidates.length, 1 + this.#maxFailovers);
    if (tries === 0) {
      answerError(res, new AppError('overloaded', 'No node is available'), job);
      outcome.status = 529;
      return outcome;
    }
    const x: Exchange = {
      req,
      res,
      job,
      outcome,
      started: performance.now(),
      headers: attemptHeaders(forwardableRequestHeaders(req.headers), job),
      path: wirePath(job.path),
    };
    for (let i = 0; i < tries; i++) {
      if ((await this.#attempt(x, job.candidates[i] as NodeView, i === tries - 1)) === 'done') break;
      outcome.failovers++;
      await pause(this.#retryDelayMs);
    }
    return outcome;
  }

  inFlight(nodeId: string): number {
    return this.#open.get(nodeId) ?? 0;
  }

  /** One try on one node: 'done' (the client has its answer or is gone), or on to the 'next' node. */
  async #attempt(x: Exchange, node: NodeView, last: boolean): Promise<'done' | 'next'> {
    const nodeId = node.record.nodeId;
    const trace = x.job.trace;
    // Tracing on: the attempt's own span, whose traceparent the node gets (a copy of the shared headers).
    const hop = trace?.hop(nodeId, x.job.method, x.headers);
    x.outcome.nodeId = nodeId;
    this.#track(nodeId, 1);
    try {
      const head = await this.#requestHead(x, nodeId, hop?.headers ?? x.headers);
      if (head.kind === 'aborted') {
        x.outcome.aborted = true;
        x.outcome.status = CLIENT_CLOSED;
        return 'done';
      }
      if (head.kind === 'error') {
        hop?.unreachable(head.code);
        this.#report('onNodeUnreachable', () => this.#deps.onNodeUnreachable(nodeId));
        if (!last) {
          trace?.failover(nodeId, 'unreachable');
          this.#report('onFailover', () => this.#deps.onFailover?.(nodeId, 'unreachable'));
          return 'next';
        }
        answerUnreachable(x, head.code);
        return 'done';
      }
      const { proxyRes } = head;
      const status = proxyRes.statusCode ?? 502;
      hop?.responded(status);
      this.#report('onNodeResponse', () => this.#deps.onNodeResponse(nodeId, status, proxyRes.headers, x.job.model));
      if (!last && isFailoverStatus(status)) {
        trace?.failover(nodeId, statusReason(status));
        this.#report('onFailover', () => this.#deps.onFailover?.(nodeId, statusReason(status)));
        // The refused answer is not wanted: its stream goes (half-closed, or closed already), the tunnel stays.
        proxyRes.destroy();
        return 'next';
      }
      trace?.answered(nodeId);
      await this.#relay(x, proxyRes, status, hop);
      return 'done';
    } finally {
      hop?.end();
      this.#track(nodeId, -1);
    }
  }

  #requestHead(x: Exchange, nodeId: string, headers: IncomingHttpHeaders): Promise<NodeHead> {
    const agent = this.#deps.agentFor(nodeId);
    // No live tunnel: as good as a refused connection.
    if (agent === undefined) return Promise.resolve({ kind: 'error', code: 'ECONNREFUSED' });
    return this.#requester.request(x.req, x.res, {
      target: NODE_TARGET,
      agent,
      headers,
      path: x.path,
      body: x.job.body,
    });
  }

  async #relay(x: Exchange, proxyRes: IncomingMessage, status: number, hop: HopTrace | undefined): Promise<void> {
    const { res, job, outcome } = x;
    const relayed = forwardableResponseHeaders(proxyRes.rawHeaders, job.requestId);
    const traceresponse = job.trace?.traceresponse;
    const headers = traceresponse === undefined ? relayed : withTraceResponse(relayed, traceresponse);
    const translator = job.translation?.open(status, proxyRes.headers);
    if (translator === undefined) res.writeHead(status, proxyRes.statusMessage, headers);
    // A translation's head waits for its first bytes: one read whole may change the status at its end.
    const writeHead = (): void => {
      const own = translator?.status?.();
      res.writeHead(
        own ?? status,
        own === undefined ? proxyRes.statusMessage : undefined,
        translatedHeaders(headers, translator?.contentType ?? ''),
      );
    };
    const sse = translator?.sse ?? proxyRes.headers['content-type']?.startsWith('text/event-stream') === true;
    const tap =
      job.observer === undefined ? undefined : new GuardedObserver(job.observer, job.requestId, this.#deps.log);
    tap?.onHead(status, proxyRes.headers);
    const end = await relayBody(proxyRes, res, {
      sse,
      requestId: job.requestId,
      onFirstByte: () => {
        outcome.ttfbMs = Math.round((performance.now() - x.started) * 100) / 100;
        hop?.firstByte();
      },
      ...(tap === undefined ? {} : { tap: (chunk: Buffer) => tap.onChunk(chunk) }),
      ...(translator === undefined ? {} : { translator, writeHead }),
    });
    outcome.status = res.headersSent ? res.statusCode : status;
    const upstreamRequestId = proxyRes.headers['request-id'];
    if (typeof upstreamRequestId === 'string') outcome.upstreamRequestId = upstreamRequestId;
    outcome.aborted = end === 'aborted';
    outcome.brokeMidStream = end === 'broken';
    if (outcome.brokeMidStream) hop?.broken();
  }

  #track(nodeId: string, delta: 1 | -1): void {
    const n = (this.#open.get(nodeId) ?? 0) + delta;
    if (n > 0) this.#open.set(nodeId, n);
    else this.#open.delete(nodeId);
  }

  // Callbacks feed the registry's view; a fault there must not fail the request.
  #report(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.#deps.log.warn('forwarder callback failed', { callback: what, err });
    }
  }
}

/** The job's observer, switched off for the rest of the response once it throws; the client's bytes go on. */
class GuardedObserver implements ResponseObserver {
  readonly #observer: ResponseObserver;
  readonly #requestId: string;
  readonly #log: Logger;
  #failed = false;

  constructor(observer: ResponseObserver, requestId: string, log: Logger) {
    this.#observer = observer;
    this.#requestId = requestId;
    this.#log = log;
  }

  onHead(status: number, headers: IncomingHttpHeaders): void {
    if (this.#failed) return;
    try {
      this.#observer.onHead(status, headers);
    } catch (err) {
      this.#fail('onHead', err);
    }
  }

  onChunk(chunk: Buffer): void {
    if (this.#failed) return;
    try {
      this.#observer.onChunk(chunk);
    } catch (err) {
      this.#fail('onChunk', err);
    }
  }

  #fail(callback: string, err: unknown): void {
    this.#failed = true;
    this.#log.warn('response observer failed', { requestId: this.#requestId, callback, err });
  }
}
