import http, {
  type ClientRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import { performance } from 'node:perf_hooks';
import { AppError, errorCode, forwardableRequestHeaders, type Logger, writeErrorResponse } from '@switchyard/shared';
import type { AccountAuth } from '../credentials/account-auth.js';
import {
  DEFAULT_UPSTREAM_TIMEOUTS,
  timeUpstreamRequest,
  UpstreamTimeoutError,
  type UpstreamTimeouts,
} from './deadlines.js';
import type { Egress } from './egress.js';
import { withCredential } from './header-policy.js';
import { peekModel } from './peek-model.js';
import { collectBody, relayResponse, writeHeldResponse } from './relay.js';

/** What the forwarder needs: where Anthropic is, how to leave the host, the account, and who watches responses. */
export interface ForwarderDeps {
  anthropicBaseUrl: URL;
  egress: Egress;
  auth: AccountAuth;
  log: Logger;
  onUpstreamResponse(status: number, headers: IncomingHttpHeaders, model: string | undefined): void;
  /** Limits on the way to Anthropic's response head (default DEFAULT_UPSTREAM_TIMEOUTS). */
  timeouts?: UpstreamTimeouts;
}

/** What one forwarded request did, for the access log line. */
export interface ForwardStats {
  /** Ms from the request's start to the upstream response that was relayed. */
  ttfbMs: number | undefined;
  /** Response body bytes relayed from upstream. */
  bytes: number;
  /** True when a 401 led to a refresh and one replay. */
  replayed: boolean;
  upstreamRequestId: string | undefined;
}

/** One verified request, its body read. */
export interface ForwardJob {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
  requestId: string;
  /** performance.now() when the request arrived. */
  startedAt: number;
  stats: ForwardStats;
}

/** Forwards a verified request to Anthropic; resolves once the response is handed over (not when the body ends). Throws AppError when no credential can be had. */
export type Forwarder = (job: ForwardJob) => Promise<void>;

// Shared by a request and its replay: the client's hang-up must reach whichever upstream request is live.
interface Link {
  upstream: ClientRequest | undefined;
  gone: boolean;
}

/**
 * Builds the forwarder: one upstream request per client request over the egress agent, the body as
 * received, the response piped back untouched, a client abort closing the upstream at once, and for
 * OAuth one refresh-and-replay when Anthropic answers 401 before anything reached the client.
 */
export function createForwarder(deps: ForwarderDeps): Forwarder {
  const base = deps.anthropicBaseUrl;
  const requestFn = base.protocol === 'https:' ? https.request : http.request;
  const agent = deps.egress.agentFor(base);
  const target = {
    hostname: base.hostname.startsWith('[') ? base.hostname.slice(1, -1) : base.hostname,
    port: base.port === '' ? undefined : Number(base.port),
    prefix: base.pathname.replace(/\/+$/, ''),
  };
  const oauth = deps.auth.kind === 'oauth';
  const timeouts = deps.timeouts ?? DEFAULT_UPSTREAM_TIMEOUTS;

  /**
   * Sends one attempt; retries once when a pooled keep-alive socket turns out to be closed already (nothing was
   * processed). Rejects with UpstreamTimeoutError when the connection or the response head takes too long; the
   * request is destroyed then (through a proxy that never answers its CONNECT there is no socket yet to fail, so
   * the timeout settles the attempt itself).
   */
  function send(job: ForwardJob, headers: OutgoingHttpHeaders, link: Link): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const start = (retryStale: boolean): void => {
        let settled = false;
        const up = requestFn({
          hostname: target.hostname,
          port: target.port,
          method: job.req.method,
          path: target.prefix + (job.req.url ?? '/'),
          headers,
          agent,
        });
        link.upstream = up;
        timeUpstreamRequest(up, timeouts, (err) => {
          if (settled) return;
          settled = true;
          up.destroy(err);
          reject(err);
        });
        up.on('response', (upRes) => {
          if (settled) return void upRes.destroy();
          settled = true;
          resolve(upRes);
        });
        // Stays attached for the request's life: a socket error after the response must not crash the process.
        up.on('error', (err) => {
          if (settled) return;
          settled = true;
          if (retryStale && up.reusedSocket && errorCode(err) === 'ECONNRESET' && !link.gone) return start(false);
          reject(err);
        });
        up.end(job.body);
      };
      start(true);
    });
  }

  function report(status: number, headers: IncomingHttpHeaders, model: string | undefined, requestId: string): void {
    try {
      deps.onUpstreamResponse(status, headers, model);
    } catch (err) {
      deps.log.error('account state update failed', { requestId, err });
    }
  }

  async function refreshedAfter401(token: string, requestId: string): Promise<boolean> {
    try {
      return await deps.auth.refreshAfterUnauthorized(token);
    } catch (err) {
      deps.log.warn('refresh after upstream 401 failed', {
        requestId,
        code: err instanceof AppError ? err.code : errorCode(err),
      });
      return false;
    }
  }

  function failBeforeResponse(job: ForwardJob, err: unknown): void {
    if (err instanceof UpstreamTimeoutError)
      deps.log.warn('upstream request timed out', {
        requestId: job.requestId,
        timeout: err.phase,
        timeoutMs: err.timeoutMs,
      });
    else deps.log.warn('upstream request failed', { requestId: job.requestId, code: errorCode(err) });
    // After the status line the only honest signal left is a broken connection (the gateway turns it into an SSE error).
    if (job.res.headersSent) job.res.destroy();
    else writeErrorResponse(job.res, failure(err), job.requestId);
  }

  return async function forward(job) {
    const { res } = job;
    const link: Link = { upstream: undefined, gone: false };
    res.once('close', () => {
      if (res.writableFinished) return;
      link.gone = true;
      link.upstream?.destroy();
    });
    const model = peekModel(job.body);
    const clientHeaders = forwardableRequestHeaders(job.req.headers);
    const method = job.req.method ?? 'GET';
    for (let attempt = 1; ; attempt += 1) {
      const credential = await deps.auth.credentialHeaders();
      if (link.gone) return;
      let upRes: IncomingMessage;
      try {
        upRes = await send(
          job,
          withCredential(clientHeaders, credential.headers, oauth, method, job.body.length),
          link,
        );
      } catch (err) {
        if (!link.gone) failBeforeResponse(job, err);
        return;
      }
      const status = upRes.statusCode ?? 502;
      report(status, upRes.headers, model, job.requestId);
      if (status === 401 && oauth && attempt === 1) {
        let held: Buffer;
        try {
          held = await collectBody(upRes);
        } catch (err) {
          if (!link.gone) failBeforeResponse(job, err);
          return;
        }
        const fresh = await refreshedAfter401(credential.token, job.requestId);
        if (link.gone) return;
        if (fresh) {
          job.stats.replayed = true;
          continue;
        }
        markResponse(job, upRes);
        writeHeldResponse(res, upRes, held, job.requestId, job.stats);
        return;
      }
      markResponse(job, upRes);
      relayResponse(upRes, res, job.requestId, job.stats);
      return;
    }
  };
}

/**
 * What the gateway is told when no response head came. Nothing reached Anthropic (a refused or timed-out
 * connection): 502, and the gateway may try another node. The head timed out: Anthropic may have the request and
 * may be working on it (and charging for it), so 504 timeout_error, which the gateway relays rather than run the
 * request again elsewhere; whether to retry is the client's call.
 */
function failure(err: unknown): AppError {
  if (err instanceof UpstreamTimeoutError && err.phase === 'headers') {
    return new AppError(
      'upstream_timeout',
      `Anthropic sent no response within ${err.timeoutMs / 1000} s; the request may have been processed.`,
      { cause: err },
    );
  }
  return new AppError('upstream_unreachable', 'The node could not reach Anthropic.', { cause: err });
}

function markResponse(job: ForwardJob, upRes: IncomingMessage): void {
  job.stats.ttfbMs = performance.now() - job.startedAt;
  const id = upRes.headers['request-id'];
  job.stats.upstreamRequestId = typeof id === 'string' ? id : undefined;
}
