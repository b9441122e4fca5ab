// The call to Anthropic that the request's steps make (app.ts, step 6): one attempt over the egress agent, under the
// connect and response-head deadlines, the link through which the client's hang-up reaches it, and what the gateway
// is told when no response head came (step 7).
import http, {
  type ClientRequest,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import https from 'node:https';
import { AppError, errorCode } from '@switchyard/shared';
import {
  DEFAULT_UPSTREAM_TIMEOUTS,
  timeUpstreamRequest,
  UpstreamTimeoutError,
  type UpstreamTimeouts,
} from './deadlines.js';
import type { Egress } from './egress.js';

/** Shared by a request and its replay: the client's hang-up must reach whichever upstream request is live. */
export interface ClientLink {
  upstream: ClientRequest | undefined;
  gone: boolean;
}

/** Links a client response to its upstream requests: a client gone before the response ended destroys the live one. */
export function linkClient(res: ServerResponse): ClientLink {
  const link: ClientLink = { upstream: undefined, gone: false };
  res.once('close', () => {
    if (res.writableFinished) return;
    link.gone = true;
    link.upstream?.destroy();
  });
  return link;
}

/** What the call needs: where Anthropic is, how to leave the host, and the deadlines. */
export interface AnthropicCallDeps {
  anthropicBaseUrl: URL;
  egress: Egress;
  /** Limits on the way to Anthropic's response head (default DEFAULT_UPSTREAM_TIMEOUTS). */
  timeouts?: UpstreamTimeouts;
}

/** The client's request as it goes upstream: its method and path, and its body as received. */
export interface UpstreamRequest {
  req: Pick<IncomingMessage, 'method' | 'url'>;
  body: Buffer;
}

/**
 * Sends one attempt and resolves with Anthropic's response head. Rejects with UpstreamTimeoutError when the
 * connection or the head takes too long, or with the request's error.
 */
export type AnthropicCall = (
  request: UpstreamRequest,
  headers: OutgoingHttpHeaders,
  link: ClientLink,
) => Promise<IncomingMessage>;

/**
 * Builds the call. It retries once when a pooled keep-alive socket turns out to be closed already (nothing was
 * processed). On a timeout the request is destroyed (through a proxy that never answers its CONNECT there is no
 * socket yet to fail, so the timeout settles the attempt itself).
 */
export function createAnthropicCall(deps: AnthropicCallDeps): AnthropicCall {
  const base = deps.anthropicBaseUrl;
  const requestFn = base.protocol === 'https:' ? https.request : http.request;
  const agent = deps.egress.agentFor(base);
  const target = {
    hostname: base.hostname.startsWith('[') ? base.hostname.slice(1, -1) : base.hostname,
    port: base.port === '' ? undefined : Number(base.port),
    prefix: base.pathname.replace(/\/+$/, ''),
  };
  const timeouts = deps.timeouts ?? DEFAULT_UPSTREAM_TIMEOUTS;

  return function callAnthropic(request, headers, link) {
    return new Promise((resolve, reject) => {
      const start = (retryStale: boolean): void => {
        let settled = false;
        const up = requestFn({
          hostname: target.hostname,
          port: target.port,
          method: request.req.method,
          path: target.prefix + (request.req.url ?? '/'),
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
        up.end(request.body);
      };
      start(true);
    });
  };
}

/**
 * What the gateway is told when no response head came. Nothing reached Anthropic (a refused or timed-out
 * connection): 502, and the gateway may try another node. The head timed out: Anthropic may have the request and
 * may be working on it (and charging for it), so 504 timeout_error, which the gateway relays rather than run the
 * request again elsewhere; whether to retry is the client's call.
 */
export function upstreamFailure(err: unknown): AppError {
  if (err instanceof UpstreamTimeoutError && err.phase === 'headers') {
    return new AppError(
      'upstream_timeout',
      `Anthropic sent no response within ${err.timeoutMs / 1000} s; the request may have been processed.`,
      { cause: err },
    );
  }
  return new AppError('upstream_unreachable', 'The node could not reach Anthropic.', { cause: err });
}
