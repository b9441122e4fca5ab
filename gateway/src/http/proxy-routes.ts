// The proxy routes: a client request's steps, top to bottom in this file (docs/ARCHITECTURE.md, "The request's
// path"). 1 authenticate the key; 2 its limits and budgets (what the headers decide, the body read once, what
// the request may cost); 3 choose the node (sticky first); 4 forward (failover inside); 5 usage, the conversation's
// node and the request's log line. Each step is a function below, in that order, and a span while tracing is on
// (tracing/request-trace.ts; with it off the request holds UNTRACED, which does nothing).
import type { Request, Response } from 'express';
import { AppError, switchyardTracer, withDeadline, type Logger, type PriceBook } from '@switchyard/shared';
import { presentedKey, type KeyAuthenticator, type KeyRecord } from '../keys/index.js';
import {
  betaRefusal,
  hasBudget,
  modelRefusal,
  requestReservation,
  type Admitted,
  type KeyLimiter,
} from '../limits/index.js';
import type { ProxyMetrics, RequestObservation } from '../metrics/index.js';
import type { ModelAliases } from '../openai/types.js';
import type { ForwardOutcome, Forwarder } from '../proxy/index.js';
import {
  chooseNodes,
  sessionKeyOf,
  stickyTargetAfter,
  type NodeView,
  type RegistrySnapshot,
  type SessionKey,
  type StickyStore,
} from '../routing/index.js';
import { RouteTracer, UNTRACED, type RequestTrace } from '../tracing/request-trace.js';
import { trackRequestUsage, type RequestUsage, type UsageDraft } from '../usage/index.js';
import { holdBody, type BodyBudget, type BodyHold } from './body-budget.js';
import { chatCompletionsBound, modelsListingBound, type NodeBound } from './node-bound.js';
import { cacheWriteOf, parseBody, type ParsedBody } from './parse-body.js';
import { localsOf } from './request-context.js';

/** Counters the gateway keeps about its traffic (exported as metrics later). */
export interface GatewayStats {
  requestsWithoutThinking: number;
}

export interface ProxyRouteDeps {
  authenticator: KeyAuthenticator;
  limiter: KeyLimiter;
  registry: RegistrySnapshot;
  sticky: StickyStore;
  forwarder: Forwarder;
  maxBodyBytes: number;
  /** The request-body bytes all requests in flight may hold together (MAX_INFLIGHT_BODY_BYTES). */
  bodyBudget: BodyBudget;
  log: Logger;
  stats: GatewayStats;
  /** Takes one draft per `/v1/messages` request once its response ended; must return at once. */
  usage: { record(draft: UsageDraft): void };
  now(): number;
  /** Prometheus series of the traffic (none: not measured). */
  metrics?: ProxyMetrics;
  /** Prices, for what a request reserves against its key's USD budgets (docs/BUDGETS.md). */
  priceBook: Pick<PriceBook, 'reservationMicros'>;
  /** MODEL_ALIASES: the Chat Completions route's other names for Claude models (none: no aliases). */
  modelAliases?: ModelAliases;
  /** Spans for each request (docs/TRACING.md), under the registered tracer provider (none: off, nothing is made). */
  tracing?: boolean;
}

const ignore = (): void => undefined;
const UNWATCHED: RequestObservation = {
  parsed: ignore,
  rejected: ignore,
  sticky: ignore,
  forwarding: ignore,
  forwarded: ignore,
  settled: ignore,
};

type ProxyRoute = 'messages' | 'chat_completions' | 'count_tokens' | 'models';

/** Each route's template, as its spans name it (http.route). */
const HTTP_ROUTES: Readonly<Record<ProxyRoute, string>> = {
  messages: '/v1/messages',
  chat_completions: '/v1/chat/completions',
  count_tokens: '/v1/messages/count_tokens',
  models: '/v1/models',
};

/** The routes whose requests reach a model: usage is counted and budgets reserve for them. */
function usesModel(route: ProxyRoute): route is 'messages' | 'chat_completions' {
  return route === 'messages' || route === 'chat_completions';
}

/** One client request through the route: what its steps share, and what the route gives back at its end. */
interface ProxyExchange {
  readonly route: ProxyRoute;
  readonly req: Request;
  readonly res: Response;
  readonly requestId: string;
  /** performance.now() at arrival. */
  readonly startedAt: number;
  /** Epoch ms at arrival. */
  readonly receivedAt: number;
  readonly watch: RequestObservation;
  /** The request's spans (UNTRACED while tracing is off). */
  readonly trace: RequestTrace;
  /** Set by step 1. */
  keyId: string | undefined;
  /** Follows an authenticated /v1/messages or /v1/chat/completions request to its one usage draft. */
  usage: RequestUsage | undefined;
  /** The body's claim on this gateway's body budget, from step 2 (none for /v1/models). */
  hold: BodyHold | undefined;
  /** The key's admission, from step 2. */
  admission: Admitted | undefined;
  /** The body was read: a refusal before that leaves it unread. */
  bodyRead: boolean;
  /** A node may have been asked (step 4): the usage worker counts what it cost, and the reservation waits for that. */
  forwarded: boolean;
}

/** Step 3's answer: the candidates in order, and what stickiness knew. */
interface NodeChoice {
  /** The conversation's identity (none for /v1/models). */
  session: SessionKey | undefined;
  /** The conversation's node as the sticky store remembered it. */
  stickyNodeId: string | undefined;
  stickyHit: boolean;
  /** The fleet the choice was made from. */
  nodes: NodeView[];
  /** The preferred node first, then the failover candidates. */
  order: NodeView[];
}

/**
 * `/v1/messages`, `/v1/chat/completions`, `/v1/messages/count_tokens` and `/v1/models`: authenticate, decide the key's betas and
 * limits from the headers alone, then read and parse the body once (within MAX_BODY_BYTES and this gateway's
 * in-flight body budget), check the model it names, reserve what it may cost against the key's budgets (held
 * until the usage worker counts it, docs/BUDGETS.md), pick a node (sticky first), forward the original bytes,
 * log one line. A request refused before its body was read costs no body read: nothing of it is kept, and
 * what still arrives after the answer is discarded for at most UNREAD_BODY_GRACE_MS. Every authenticated
 * `/v1/messages` or `/v1/chat/completions` request, answered or refused, leaves one usage draft once its
 * response ended (count_tokens and models are not usage). A Chat Completions request is its Messages
 * translation from the body on (docs/OPENAI.md): the node, the limits, stickiness and usage see only that.
 */
export function createProxyRoute(deps: ProxyRouteDeps, route: ProxyRoute) {
  // The one check of whether tracing is on: a route made while it is off traces nothing.
  const tracer =
    deps.tracing === true ? new RouteTracer(switchyardTracer(), HTTP_ROUTES[route], usesModel(route)) : undefined;
  return async function proxyRoute(req: Request, res: Response): Promise<void> {
    const x = newExchange(deps, route, req, res, tracer);
    try {
      try {
        // 1. Who is calling (before reading any body, so strangers cannot make us buffer 32 MiB). From here on,
        //    a request of a model route leaves one usage draft, answered or refused.
        x.trace.step('authenticate');
        const key = await authenticate(deps, x);
        x.usage = followUsage(deps, x, key);
        // 2. The key's limits and budgets: what the headers alone decide, then the body (read and parsed once)
        //    and the model it names, then what the request may cost.
        x.trace.step('limits');
        admitOnHeaders(deps, x, key);
        const bound = await readBody(deps, x, key);
        await reserveBudget(deps, x, key, bound);
        noteWithoutThinking(deps, x, key, bound.parsed);
        // 3. The node: the conversation's own when it is available, else the least busy.
        x.trace.step('route');
        const choice = await chooseNode(deps, x, key, bound.parsed);
        // 4. Forward; failover before the first byte happens inside. The usage capture watches the relayed answer.
        const outcome = await forward(deps, x, key, bound, choice);
        // 5. What became of it: the usage draft's routing (recorded once the response closed), the
        //    conversation's node, the request's log line.
        recordOutcome(deps, x, key, bound.parsed, choice, outcome);
      } finally {
        release(x);
      }
    } catch (err) {
      x.trace.failed(err);
      if (err instanceof AppError) refused(deps, x, err);
      throw err;
    } finally {
      x.watch.settled();
      x.trace.settled();
    }
  };
}

function newExchange(
  deps: ProxyRouteDeps,
  route: ProxyRoute,
  req: Request,
  res: Response,
  tracer: RouteTracer | undefined,
): ProxyExchange {
  const { requestId, startedAt, receivedAt } = localsOf(res);
  return {
    route,
    req,
    res,
    requestId,
    startedAt,
    receivedAt,
    watch: deps.metrics?.observe(res, route) ?? UNWATCHED,
    trace: tracer === undefined ? UNTRACED : tracer.begin(req, res, requestId),
    keyId: undefined,
    usage: undefined,
    hold: undefined,
    admission: undefined,
    bodyRead: route === 'models',
    forwarded: false,
  };
}

/** 1. The key the request presents, or its refusal (thrown). */
async function authenticate(deps: ProxyRouteDeps, x: ProxyExchange): Promise<KeyRecord> {
  const auth = await deps.authenticator.authenticate(presentedKey(x.req.headers));
  if (!auth.ok) throw auth.error;
  x.keyId = auth.key.id;
  x.trace.authenticated(auth.key.id);
  return auth.key;
}

/** 1. The usage tracker of a model route's request (count_tokens and models are not usage). */
function followUsage(deps: ProxyRouteDeps, x: ProxyExchange, key: KeyRecord): RequestUsage | undefined {
  if (!usesModel(x.route)) return undefined;
  const { requestId, receivedAt, startedAt, route } = x;
  // Tracing on: the usage job links to the request's span.
  const traceparent = x.trace.traceparent;
  return trackRequestUsage(x.res, deps.usage, {
    requestId,
    keyId: key.id,
    at: receivedAt,
    startedAt,
    route,
    traceparent,
  });
}

/**
 * 2. What the headers alone decide: the betas the key may send, the body's claim on this gateway's body budget (by
 * its declared length: a full gateway answers 503 without costing the key a request of its rate), then the key's
 * limits (synchronous: no Redis round trip).
 */
function admitOnHeaders(deps: ProxyRouteDeps, x: ProxyExchange, key: KeyRecord): void {
  const betaError = betaRefusal(key.allowedBetas, x.req.headers);
  if (betaError !== undefined) throw betaError;
  // Listing models is not using one: a key limited to some models may still list them; nor has it a body.
  if (x.route !== 'models') x.hold = holdBody(x.req, deps.maxBodyBytes, deps.bodyBudget, key.id);
  const admission = deps.limiter.admit(key, deps.now());
  if (!admission.ok) throw admission.error;
  x.admission = admission;
}

/**
 * 2. The body, read once (a client waiting on `Expect: 100-continue` is asked for it only now) and parsed once; the
 * bytes go upstream as they came (a Chat Completions body as its Messages translation). Then the model it names.
 */
async function readBody(deps: ProxyRouteDeps, x: ProxyExchange, key: KeyRecord): Promise<NodeBound> {
  const { req, res, hold } = x;
  if (hold === undefined) return modelsListingBound(req);
  if (expectsContinue(req)) res.writeContinue();
  const raw = await hold.read();
  x.bodyRead = true;
  const bound: NodeBound =
    x.route === 'chat_completions'
      ? chatCompletionsBound(raw, deps, x.requestId)
      : { body: raw, parsed: parseBody(raw), path: req.originalUrl };
  x.usage?.parsed(bound.parsed);
  x.watch.parsed(bound.parsed.model, bound.parsed.stream);
  x.trace.parsed(bound.parsed);
  const modelError = modelRefusal(key.allowedModels, bound.parsed.model);
  if (modelError !== undefined) throw modelError;
  return bound;
}

/**
 * 2. What the request may cost, reserved against the key's budgets (held until the usage worker counts it,
 * docs/BUDGETS.md). Only a key with a budget reserves: pricing the reservation is the one part of it that costs CPU.
 */
async function reserveBudget(deps: ProxyRouteDeps, x: ProxyExchange, key: KeyRecord, bound: NodeBound): Promise<void> {
  const admission = x.admission;
  if (!usesModel(x.route) || !hasBudget(key) || admission === undefined) return;
  const { body, parsed } = bound;
  const input = {
    requestId: x.requestId,
    bodyBytes: body.length,
    model: parsed.model,
    maxTokens: parsed.maxTokens,
    cacheWrite: cacheWriteOf(body, parsed),
  } as const;
  // A key this gateway saw for the first time a moment ago: its figures are being read (one round trip);
  // reserving before they arrive would measure a burst against nothing spent.
  const reading = admission.budgetFiguresRead();
  if (reading !== undefined) await withDeadline(reading, BUDGET_READ_WAIT_MS, 'budget figures').catch(() => undefined);
  const budgetError = admission.reserve(requestReservation(deps.priceBook, input));
  if (budgetError !== undefined) throw budgetError;
}

/** 2. Claude Code asks for thinking; an OpenAI client rarely does, so only the Messages route warns. */
function noteWithoutThinking(deps: ProxyRouteDeps, x: ProxyExchange, key: KeyRecord, parsed: ParsedBody): void {
  if (x.route !== 'messages' || parsed.thinking) return;
  deps.stats.requestsWithoutThinking++;
  deps.log.warn('request without thinking', {
    requestId: x.requestId,
    keyId: key.id,
    keyName: key.name,
    model: parsed.model,
  });
}

/** 3. The candidates in order: the conversation's node first when it is available, else the least busy. */
async function chooseNode(
  deps: ProxyRouteDeps,
  x: ProxyExchange,
  key: KeyRecord,
  parsed: ParsedBody,
): Promise<NodeChoice> {
  const session = x.route === 'models' ? undefined : sessionKeyOf(key.id, x.req.headers, parsed);
  const stickyNodeId = session ? await deps.sticky.lookup(key.id, session.key) : undefined;
  const nodes = deps.registry.nodes();
  const choice = chooseNodes(nodes, {
    model: parsed.model,
    stickyNodeId,
    inFlight: (id) => deps.forwarder.inFlight(id),
    nowMs: deps.now(),
  });
  if (!choice.ok) throw choice.error;
  if (session) x.watch.sticky(choice.stickyHit);
  x.trace.routed(stickyOf(session, choice.stickyHit), choice.order[0]?.record.nodeId, choice.order.length);
  return { session, stickyNodeId, stickyHit: choice.stickyHit, nodes, order: choice.order };
}

/** 4. The original bytes (or the translation's) to the candidates, with failover before the first byte. */
function forward(
  deps: ProxyRouteDeps,
  x: ProxyExchange,
  key: KeyRecord,
  bound: NodeBound,
  choice: NodeChoice,
): Promise<ForwardOutcome> {
  const { parsed } = bound;
  x.watch.forwarding();
  const trace = x.trace.forwarding();
  x.forwarded = true;
  return deps.forwarder.forward(x.req, x.res, {
    requestId: x.requestId,
    keyId: key.id,
    method: x.req.method,
    path: bound.path,
    body: bound.body,
    candidates: choice.order,
    ...(parsed.model === undefined ? {} : { model: parsed.model }),
    stream: parsed.stream,
    ...(x.usage === undefined ? {} : { observer: x.usage.capture }),
    ...(bound.headers === undefined ? {} : { headers: bound.headers }),
    ...(bound.translation === undefined ? {} : { translation: bound.translation }),
    trace,
  });
}

/** 5. The usage draft learns where the request went, the conversation keeps (or moves to) its node, one log line. */
function recordOutcome(
  deps: ProxyRouteDeps,
  x: ProxyExchange,
  key: KeyRecord,
  parsed: ParsedBody,
  choice: NodeChoice,
  outcome: ForwardOutcome,
): void {
  x.usage?.forwarded(outcome, {
    accountKind: choice.nodes.find((n) => n.record.nodeId === outcome.nodeId)?.record.accountKind ?? null,
    sticky: stickyOutcome(choice.stickyNodeId, outcome.nodeId),
  });
  x.watch.forwarded(outcome);
  // A conversation keeps its node through a failover or a rate limit (its prompt cache lives there)
  // and returns to it once it is available again; it moves only when its node left or needs a human.
  if (choice.session && outcome.nodeId && outcome.status < 400) {
    const target = stickyTargetAfter(choice.nodes, choice.stickyNodeId, outcome.nodeId, {
      model: parsed.model,
      nowMs: deps.now(),
    });
    deps.sticky.remember(key.id, choice.session.key, target);
  }
  deps.log.info('request', {
    requestId: x.requestId,
    keyId: key.id,
    route: x.route,
    node: outcome.nodeId,
    model: parsed.model,
    stream: parsed.stream,
    status: outcome.status,
    durationMs: Math.round((performance.now() - x.startedAt) * 100) / 100,
    ttfbMs: outcome.ttfbMs,
    failovers: outcome.failovers,
    sticky: stickyOf(choice.session, choice.stickyHit),
    aborted: outcome.aborted,
    brokeMidStream: outcome.brokeMidStream,
    upstreamRequestId: outcome.upstreamRequestId,
    traceId: x.trace.traceId,
  });
}

/** What stickiness knew when the node was chosen: the conversation's node was available, was not, or none. */
function stickyOf(session: SessionKey | undefined, hit: boolean): 'hit' | 'miss' | 'none' {
  return session === undefined ? 'none' : hit ? 'hit' : 'miss';
}

/** Whether the conversation's remembered node answered ('hit'), another did ('moved'), or there was none. */
function stickyOutcome(stickyNodeId: string | undefined, servedBy: string | undefined): 'none' | 'hit' | 'moved' {
  if (stickyNodeId === undefined || servedBy === undefined) return 'none';
  return servedBy === stickyNodeId ? 'hit' : 'moved';
}

/**
 * What the request held, given back once its handler is over: the key's admission (its reservation waits for the
 * usage count once a node may have been asked), the body's claim; then the usage tracker learns the handler is done.
 */
function release(x: ProxyExchange): void {
  try {
    x.admission?.release({ awaitUsage: x.forwarded });
    x.hold?.release();
  } finally {
    x.usage?.settle();
  }
}

/**
 * How long a refused request's unread body may keep arriving after the answer. Node discards it as it comes
 * (nothing is kept), so a client that sends its whole body before reading (most HTTP/1.1 clients) still reads
 * the answer, and the connection can be reused; past this the connection is closed. Closing at once instead
 * would reset it with the upload unread, and a reset drops the answer on the client's side before it is read
 * (measured: undici lost 34 of 42 such 503s). docs/EDGES.md, "Limits before bytes".
 */
export const UNREAD_BODY_GRACE_MS = 5_000;

function closeUnlessBodyEnds(req: Request, graceMs: number): void {
  if (req.complete) return;
  const socket = req.socket;
  const timer = setTimeout(() => socket.destroy(), graceMs);
  const done = (): void => clearTimeout(timer);
  req.once('end', done);
  socket.once('close', done);
}

/**
 * A refusal's bookkeeping: the metric, one log line (with the bytes this connection had read when it was
 * refused, so an operator sees what a refusal cost) and, when the body was never read, a bound on how long
 * the rest of it may keep arriving (UNREAD_BODY_GRACE_MS).
 */
function refused(deps: ProxyRouteDeps, x: ProxyExchange, err: AppError): void {
  const { req, res } = x;
  x.watch.rejected(err.code);
  if (!x.bodyRead && !req.complete) res.once('finish', () => closeUnlessBodyEnds(req, UNREAD_BODY_GRACE_MS));
  deps.log.info('request refused', {
    requestId: x.requestId,
    keyId: x.keyId,
    route: x.route,
    status: err.status,
    errorCode: err.code,
    bodyRead: x.bodyRead,
    socketBytesRead: req.socket.bytesRead,
    traceId: x.trace.traceId,
  });
}

/**
 * The longest a request waits for its key's budget figures on this gateway's first sight of the key (after a
 * start, or 10 idle minutes). Past it (Redis slow or away) it reserves on what this gateway knows: docs/BUDGETS.md.
 */
export const BUDGET_READ_WAIT_MS = 2_000;

function expectsContinue(req: Request): boolean {
  const expect = req.headers.expect;
  return expect !== undefined && expect.toLowerCase() === '100-continue';
}
