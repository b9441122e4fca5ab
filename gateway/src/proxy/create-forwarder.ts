import { Agent as HttpAgent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { AppError, bodyDigest, forwardableRequestHeaders, forwardableResponseHeaders, signRequest, writeErrorResponse } from '@switchyard/shared';
import type { NodeView } from '../routing/index.js';
import { attemptHeaders, isFailoverStatus, wirePath } from './header-policy.js';
import { createNodeRequester, type NodeHead } from './node-request.js';
import { createRandomPool } from './random-pool.js';
import { relayBody } from './relay-body.js';
import type { ForwardJob, ForwardOutcome, Forwarder, ForwarderDeps, ResponseObserver } from './types.js';

// nginx's convention for "the client closed the request before the response".
const CLIENT_CLOSED = 499;

/** One client request across its attempts. */
interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  job: ForwardJob;
  outcome: ForwardOutcome;
  started: number;
  /** The client's headers as they may reach a node (computed once, signed per attempt). */
  base: IncomingHttpHeaders;
  /** The path as it goes on the wire (and is signed). */
  path: string;
  /** SHA-256 of the body, computed once however many nodes are tried. */
  bodySha256: string;
  staleRetried: boolean;
}

/**
 * The gateway's forwarding: signs each request for its node, sends the original body bytes through
 * http-proxy-3 on keep-alive agents (no socket cap: every open SSE stream holds one), and fails over
 * before the first byte.
 *
 * Per attempt: a connection error, 429, 529 or other 5xx moves on to the next candidate (at most
 * `maxFailovers` more, after a short jittered pause) as long as nothing reached the client; the last
 * attempt's answer passes through unchanged (status, body, retry-after, rate-limit headers), or a
 * 502/504 envelope when no node answered. Every node answer goes to `onNodeResponse`, every
 * unreachable node to `onNodeUnreachable`. Once the head is sent there is no retry: a stream that
 * breaks ends with a terminal SSE error event. A client that hangs up destroys the node request at once.
 *
 * @example
 * const forwarder = createForwarder({ sharedSecret, log, onNodeResponse: registry.observe, onNodeUnreachable: registry.markUnreachable });
 * const outcome = await forwarder.forward(req, res, { requestId, keyId, method: 'POST', path: req.originalUrl, body, candidates, stream: true });
 */
export function createForwarder(deps: ForwarderDeps): Forwarder {
  const maxFailovers = deps.maxFailovers ?? 2;
  const retryDelayMs = deps.retryDelayMs ?? 25;
  const agentOptions = { keepAlive: true, maxSockets: Infinity, scheduling: 'lifo' as const, timeout: deps.idleSocketTimeoutMs ?? 30_000 };
  const httpAgent = deps.httpAgent ?? new HttpAgent(agentOptions);
  const httpsAgent = deps.httpsAgent ?? new HttpsAgent(agentOptions);
  const requester = createNodeRequester({
    httpAgent,
    httpsAgent,
    connectTimeoutMs: deps.connectTimeoutMs ?? 3000,
    onProxyError: (err) => deps.log.warn('proxy error without a request', { err }),
  });
  const open = new Map<string, number>();
  const targets = new Map<string, URL>();
  // The signature's one-time nonce (16 random bytes, as signRequest draws them itself), from a pool.
  const nonce = createRandomPool(16);

  function track(nodeId: string, delta: 1 | -1): void {
    const n = (open.get(nodeId) ?? 0) + delta;
    if (n > 0) open.set(nodeId, n);
    else open.delete(nodeId);
  }

  function targetOf(url: string): URL {
    let target = targets.get(url);
    if (target === undefined) {
      target = new URL(url);
      targets.set(url, target);
    }
    return target;
  }

  // Callbacks feed the registry's view; a fault there must not fail the request.
  function report(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      deps.log.warn('forwarder callback failed', { callback: what, err });
    }
  }

  // An observer that throws is switched off for the rest of the response; the client's bytes go on.
  function observe(job: ForwardJob): ResponseObserver | undefined {
    const observer = job.observer;
    if (observer === undefined) return undefined;
    let failed = false;
    const guard = (what: string, fn: () => void): void => {
      if (failed) return;
      try {
        fn();
      } catch (err) {
        failed = true;
        deps.log.warn('response observer failed', { requestId: job.requestId, callback: what, err });
      }
    };
    return {
      onHead: (status, headers) => guard('onHead', () => observer.onHead(status, headers)),
      onChunk: (chunk) => guard('onChunk', () => observer.onChunk(chunk)),
    };
  }

  function requestHead(x: Exchange, node: NodeView): Promise<NodeHead> {
    const { job } = x;
    const signature = signRequest(deps.sharedSecret, {
      method: job.method,
      path: x.path,
      nodeId: node.record.nodeId,
      keyId: job.keyId,
      requestId: job.requestId,
      bodySha256: x.bodySha256,
      nonce: nonce(),
    });
    return requester.request(x.req, x.res, {
      target: targetOf(node.record.url),
      headers: attemptHeaders(x.base, signature, job.method, job.body.length),
      path: x.path,
      body: job.body,
    });
  }

  async function relay(x: Exchange, proxyRes: IncomingMessage, status: number): Promise<void> {
    const { res, job, outcome } = x;
    res.writeHead(status, proxyRes.statusMessage, forwardableResponseHeaders(proxyRes.rawHeaders, job.requestId));
    const sse = proxyRes.headers['content-type']?.startsWith('text/event-stream') === true;
    const tap = observe(job);
    tap?.onHead(status, proxyRes.headers);
    const end = await relayBody(proxyRes, res, {
      sse,
      requestId: job.requestId,
      onFirstByte: () => {
        outcome.ttfbMs = Math.round((performance.now() - x.started) * 100) / 100;
      },
      ...(tap === undefined ? {} : { tap: (chunk: Buffer) => tap.onChunk(chunk) }),
    });
    outcome.status = status;
    const upstreamRequestId = proxyRes.headers['request-id'];
    if (typeof upstreamRequestId === 'string') outcome.upstreamRequestId = upstreamRequestId;
    outcome.aborted = end === 'aborted';
    outcome.brokeMidStream = end === 'broken';
  }

  function answerUnreachable(x: Exchange, code: string | undefined): void {
    const err =
      code === 'ECONNECT_TIMEOUT' || code === 'ETIMEDOUT'
        ? new AppError('upstream_timeout', 'No node accepted the connection in time')
        : new AppError('upstream_unreachable', 'No node could be reached');
    writeErrorResponse(x.res, err, x.job.requestId);
    x.outcome.status = err.status;
  }

  /** One try on one node: 'done' (the client has its answer or is gone), 'next' node, or the same one 'again'. */
  async function attempt(x: Exchange, node: NodeView, last: boolean): Promise<'done' | 'next' | 'again'> {
    const nodeId = node.record.nodeId;
    x.outcome.nodeId = nodeId;
    track(nodeId, 1);
    try {
      const head = await requestHead(x, node);
      if (head.kind === 'aborted') {
        x.outcome.aborted = true;
        x.outcome.status = CLIENT_CLOSED;
        return 'done';
      }
      if (head.kind === 'error') {
        // A keep-alive socket the node closed as we picked it up: the node is fine, ask it again once.
        if (head.staleSocket && !x.staleRetried) {
          x.staleRetried = true;
          return 'again';
        }
        report('onNodeUnreachable', () => deps.onNodeUnreachable(nodeId));
        if (!last) {
          report('onFailover', () => deps.onFailover?.(nodeId, 'unreachable'));
          return 'next';
        }
        answerUnreachable(x, head.code);
        return 'done';
      }
      const { proxyRes } = head;
      const status = proxyRes.statusCode ?? 502;
      report('onNodeResponse', () => deps.onNodeResponse(nodeId, status, proxyRes.headers, x.job.model));
      if (!last && isFailoverStatus(status)) {
        report('onFailover', () => deps.onFailover?.(nodeId, status === 429 ? 'rate_limited' : status === 529 ? 'overloaded' : 'server_error'));
        // Read the refused answer to its end so its socket goes back to the pool.
        proxyRes.resume();
        return 'next';
      }
      await relay(x, proxyRes, status);
      return 'done';
    } finally {
      track(nodeId, -1);
    }
  }

  async function pause(): Promise<void> {
    const ms = retryDelayMs * (0.5 + Math.random());
    await new Promise((resolve) => setTimeout(resolve, ms));
  }

  async function forward(req: IncomingMessage, res: ServerResponse, job: ForwardJob): Promise<ForwardOutcome> {
    const outcome: ForwardOutcome = { status: 0, failovers: 0, aborted: false, brokeMidStream: false };
    const tries = Math.min(job.candidates.length, 1 + maxFailovers);
    if (tries === 0) {
      writeErrorResponse(res, new AppError('overloaded', 'No node is available'), job.requestId);
      outcome.status = 529;
      return outcome;
    }
    const x: Exchange = { req, res, job, outcome, started: performance.now(), base: forwardableRequestHeaders(req.headers), path: wirePath(job.path), bodySha256: bodyDigest(job.body), staleRetried: false };
    for (let i = 0; i < tries; ) {
      const step = await attempt(x, job.candidates[i] as NodeView, i === tries - 1);
      if (step === 'done') break;
      if (step === 'next') {
        i++;
        outcome.failovers++;
        x.staleRetried = false;
        await pause();
      }
    }
    return outcome;
  }

  return {
    forward,
    inFlight: (nodeId) => open.get(nodeId) ?? 0,
    close() {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}
