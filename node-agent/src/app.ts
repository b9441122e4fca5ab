// The forwarding app: the node's request listener, served only on the tunnel's connection streams (only an
// authenticated gateway reaches it, so it checks no signature). A request goes through handleRequest's numbered
// steps; each step is a function below it, in the order it runs.
import type {
  IncomingHttpHeaders,
  IncomingMessage,
  OutgoingHttpHeaders,
  RequestListener,
  ServerResponse,
} from 'node:http';
import { performance } from 'node:perf_hooks';
import {
  AppError,
  errorCode,
  toAppError,
  ForwardHeaders,
  type Logger,
  newRequestId,
  readBoundedBody,
  writeErrorResponse,
} from '@switchyard/shared';
import type { AccountAuth } from './credentials/account-auth.js';
import type { DrainGate } from './fleet/drain.js';
import type { NodeMetrics } from './metrics/index.js';
import { pathOf, routeOf } from './http/routes.js';
import { forwardHeader, logRequestDone, type AccessEntry } from './http/access-log.js';
import {
  createAnthropicCall,
  linkClient,
  upstreamFailure,
  type AnthropicCall,
  type ClientLink,
} from './upstream/anthropic-call.js';
import { UpstreamTimeoutError, type UpstreamTimeouts } from './upstream/deadlines.js';
import type { Egress } from './upstream/egress.js';
import { upstreamClientHeaders, withCredential } from './upstream/header-policy.js';
import { peekModel } from './upstream/peek-model.js';
import { collectBody, relayResponse, writeHeldResponse } from './upstream/relay.js';
import { RequestSpans, traceTargetOf, type TraceTarget } from './tracing/request-spans.js';
import type { UpstreamCallSpan } from './tracing/upstream-call-span.js';

/** Everything the forwarding app needs; main.ts builds them. */
export interface NodeAppDeps {
  anthropicBaseUrl: URL;
  maxBodyBytes: number;
  egress: Egress;
  auth: AccountAuth;
  gate: DrainGate;
  log: Logger;
  /** Called with every upstream response's status and headers (before the body), for the account state. */
  onUpstreamResponse(status: number, headers: IncomingHttpHeaders, model: string | undefined): void;
  /** Where each request's outcome is counted (none: not measured). */
  metrics?: Pick<NodeMetrics, 'request'>;
  /** Connect and response-head limits on requests to Anthropic (default: DEFAULT_UPSTREAM_TIMEOUTS). */
  upstreamTimeouts?: UpstreamTimeouts;
  /** Tracing is on (main.ts started the SDK): each request makes its spans (docs/TRACING.md). Default off. */
  tracing?: boolean;
}

/** One admitted request, its body read, on its way to Anthropic. */
interface ForwardJob {
  req: IncomingMessage;
  res: ServerResponse;
  body: Buffer;
  /** The client's headers that go upstream (the credential and betas are added per attempt). */
  clientHeaders: OutgoingHttpHeaders;
  entry: AccessEntry;
  /** Ends the upstream request when the client leaves. */
  link: ClientLink;
  /** The model the body's start names, if any. */
  model: string | undefined;
  /** The request's spans; undefined with tracing off. */
  spans: RequestSpans | undefined;
  /** The span of the live attempt's call to Anthropic (tracing on). */
  call: UpstreamCallSpan | undefined;
}

/** What every request's steps share, built once. */
interface NodeApp {
  deps: NodeAppDeps;
  /** Step 6's transport. */
  upstream: AnthropicCall;
  oauth: boolean;
  /** Set only while tracing is on: the one flag a request checks. */
  trace: TraceTarget | undefined;
}

const NOT_FOUND = new AppError('not_found', 'Not found.');
const DRAINING = new AppError('unavailable', 'This node is draining; send the request to another node.', {
  anthropicType: 'overloaded_error',
});
const TOO_LARGE = new AppError('body_too_large', 'Request exceeds the maximum allowed number of bytes.');

/**
 * The forwarding app. A draining node answers 503 so the gateway fails over.
 *
 * @example
 * const connections = http.createServer(createNodeApp(deps)); // never listens: the tunnel hands it streams
 */
export function createNodeApp(deps: NodeAppDeps): RequestListener {
  const app: NodeApp = {
    deps,
    upstream: createAnthropicCall({
      anthropicBaseUrl: deps.anthropicBaseUrl,
      egress: deps.egress,
      ...(deps.upstreamTimeouts === undefined ? {} : { timeouts: deps.upstreamTimeouts }),
    }),
    oauth: deps.auth.kind === 'oauth',
    trace: deps.tracing === true ? traceTargetOf(deps.anthropicBaseUrl, deps.auth.kind) : undefined,
  };
  return function nodeApp(req, res) {
    void handleRequest(app, req, res);
  };
}

/**
 * One request from the tunnel, top to bottom:
 *  1. name it: request and key ids from the gateway's headers; its access line and metrics when it closes; with
 *     tracing on, its spans (the server span under the gateway's tunnel hop, ended when the response closes)
 *  2. route it: the three Anthropic routes, anything else 404
 *  3. admit it: a draining node answers 503, so the gateway sends it elsewhere
 *  4. read its body, bounded (413)
 *  5. take the account's credential: it may wait for a refresh; 503 when the account cannot serve
 *  6. call Anthropic: the client's headers with the credential, under the connect and head deadlines
 *  7. classify the outcome: no head is 502 or 504; a 401 to an OAuth account refreshes it and goes back to 5, once
 *  8. relay the response as received
 * Whatever steps 4 to 8 throw (an AppError from the credential) is answered with its error envelope.
 */
async function handleRequest(app: NodeApp, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // 1. Name it.
  const entry = nameRequest(req);
  const spans = app.trace === undefined ? undefined : new RequestSpans(app.trace, req, entry);
  res.once('close', () => {
    spans?.closed(res);
    logRequestDone(app.deps, entry, res);
  });
  // 2. Route it.
  if (entry.route === undefined) return refuse(res, NOT_FOUND, entry, spans);
  // 3. Admit it.
  if (!app.deps.gate.tryEnter()) return refuse(res, DRAINING, entry, spans);
  res.once('close', () => app.deps.gate.leave());
  try {
    // 4. Read its body.
    const body = await readBody(app.deps, req, res, entry, spans);
    if (body === undefined) return;
    const job: ForwardJob = {
      req,
      res,
      body,
      clientHeaders: upstreamClientHeaders(req.headers),
      entry,
      link: linkClient(res),
      model: forwardHeader(req.headers, ForwardHeaders.model) ?? peekModel(body),
      spans,
      call: undefined,
    };
    for (let attempt = 1; ; attempt += 1) {
      // 5. Take the credential.
      const credential = await takeCredential(app.deps.auth, job);
      if (job.link.gone) return;
      // 6. Call Anthropic (a failure before the head is classified and answered there).
      const upRes = await callAnthropic(app, job, credential.headers);
      if (upRes === undefined) return;
      reportUpstreamResponse(app.deps, upRes, job.model, entry.requestId);
      // 7. Classify: a 401 to an OAuth account is held while it refreshes, then replayed from 5 once.
      if (upRes.statusCode === 401 && app.oauth && attempt === 1) {
        if (!(await replayAfterUnauthorized(app, job, upRes, credential.token))) return;
        entry.stats.replayed = true;
        continue;
      }
      // 8. Relay.
      return relay(job, upRes);
    }
  } catch (err) {
    answerError(app.deps.log, res, entry, spans, err);
  }
}

/** Step 1: the access entry, from the gateway's informational headers (or a new request id). */
function nameRequest(req: IncomingMessage): AccessEntry {
  const path = pathOf(req.url ?? '/');
  return {
    requestId: forwardHeader(req.headers, ForwardHeaders.requestId) ?? newRequestId(),
    keyId: forwardHeader(req.headers, ForwardHeaders.keyId),
    method: req.method ?? '',
    path,
    route: routeOf(req.method, path),
    startedAt: performance.now(),
    requestBytes: 0,
    stats: { ttfbMs: undefined, bytes: 0, replayed: false, upstreamRequestId: undefined },
    traceId: undefined,
  };
}

/** Step 4: the whole body, or undefined once a body past maxBodyBytes was answered 413. */
async function readBody(
  deps: NodeAppDeps,
  req: IncomingMessage,
  res: ServerResponse,
  entry: AccessEntry,
  spans: RequestSpans | undefined,
): Promise<Buffer | undefined> {
  const body = await readBoundedBody(req, deps.maxBodyBytes);
  if (body === undefined) {
    res.setHeader('connection', 'close');
    refuse(res, TOO_LARGE, entry, spans);
    return undefined;
  }
  entry.requestBytes = body.length;
  return body;
}

/**
 * Step 5: the credential headers. Traced, under a `credential` span: an OAuth refresh this request starts (the
 * token expired) shows as its child.
 */
function takeCredential(auth: AccountAuth, job: ForwardJob): ReturnType<AccountAuth['credentialHeaders']> {
  return job.spans === undefined ? auth.credentialHeaders() : job.spans.credential(() => auth.credentialHeaders());
}

/** Step 6: one attempt; undefined once a failure before the response head was answered (step 7's first half). */
async function callAnthropic(
  app: NodeApp,
  job: ForwardJob,
  credential: Readonly<Record<string, string>>,
): Promise<IncomingMessage | undefined> {
  const method = job.req.method ?? 'GET';
  const headers = withCredential(job.clientHeaders, credential, app.oauth, method, job.body.length);
  job.call = job.spans?.startCall(job.model);
  try {
    const upRes = await app.upstream(job, headers, job.link);
    job.call?.answered(upRes);
    return upRes;
  } catch (err) {
    if (!job.link.gone) failBeforeResponse(app.deps.log, job, err);
    else job.call?.end();
    return undefined;
  }
}

/** Every answer's status and headers go to the account state (a 401 that will be replayed too). */
function reportUpstreamResponse(
  deps: NodeAppDeps,
  upRes: IncomingMessage,
  model: string | undefined,
  requestId: string,
): void {
  try {
    deps.onUpstreamResponse(upRes.statusCode ?? 502, upRes.headers, model);
  } catch (err) {
    deps.log.error('account state update failed', { requestId, err });
  }
}

/**
 * Step 7, a 401 to an OAuth account: the answer is held back (nothing has reached the client) while the account
 * refreshes once. True: a fresh token is there, replay from step 5. False: the request is over (the held 401
 * relayed, the client gone, or a broken upstream answered).
 */
async function replayAfterUnauthorized(
  app: NodeApp,
  job: ForwardJob,
  upRes: IncomingMessage,
  token: string,
): Promise<boolean> {
  let held: Buffer;
  try {
    held = await collectBody(upRes);
  } catch (err) {
    if (!job.link.gone) failBeforeResponse(app.deps.log, job, err);
    else job.call?.end();
    return false;
  }
  job.call?.end();
  // Traced, under a `credential` span of its own: the refresh shows as its child, the replay as a second call.
  const { requestId } = job.entry;
  const fresh = await (job.spans === undefined
    ? refreshedAfter401(app.deps, token, requestId)
    : job.spans.credential(() => refreshedAfter401(app.deps, token, requestId)));
  if (job.link.gone) return false;
  if (fresh) return true;
  markResponse(job.entry, upRes);
  writeHeldResponse(job.res, upRes, held, job.entry.requestId, job.entry.stats);
  return false;
}

async function refreshedAfter401(deps: NodeAppDeps, token: string, requestId: string): Promise<boolean> {
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

/** Step 7, no response head: logged, and answered as classified (or, past the status line, the connection broken). */
function failBeforeResponse(log: Logger, job: ForwardJob, err: unknown): void {
  const { requestId } = job.entry;
  if (err instanceof UpstreamTimeoutError)
    log.warn('upstream request timed out', { requestId, timeout: err.phase, timeoutMs: err.timeoutMs });
  else log.warn('upstream request failed', { requestId, code: errorCode(err) });
  const failure = upstreamFailure(err);
  job.call?.failed(failure.code);
  // After the status line the only honest signal left is a broken connection (the gateway turns it into an SSE error).
  if (job.res.headersSent) job.res.destroy();
  else refuse(job.res, failure, job.entry, job.spans);
}

/** Step 8: the response, piped as received. */
function relay(job: ForwardJob, upRes: IncomingMessage): void {
  markResponse(job.entry, upRes);
  relayResponse(upRes, job.res, job.entry.requestId, job.entry.stats);
  job.call?.relayed(upRes, job.link);
}

function markResponse(entry: AccessEntry, upRes: IncomingMessage): void {
  entry.stats.ttfbMs = performance.now() - entry.startedAt;
  const id = upRes.headers['request-id'];
  entry.stats.upstreamRequestId = typeof id === 'string' ? id : undefined;
}

/** A step threw (the account cannot serve, or a bug): the error envelope, if the client is still there to read it. */
function answerError(
  log: Logger,
  res: ServerResponse,
  entry: AccessEntry,
  spans: RequestSpans | undefined,
  err: unknown,
): void {
  if (!clientPresent(res)) return;
  if (!(err instanceof AppError)) log.error('request failed', { requestId: entry.requestId, err });
  refuse(res, toAppError(err), entry, spans);
}

/** The node answers with an error of its own (its code becomes the server span's error.type). */
function refuse(res: ServerResponse, err: AppError, entry: AccessEntry, spans: RequestSpans | undefined): void {
  spans?.refused(err);
  writeErrorResponse(res, err, entry.requestId);
}

function clientPresent(res: ServerResponse): boolean {
  return !res.writableEnded && res.socket !== null && !res.socket.destroyed;
}
