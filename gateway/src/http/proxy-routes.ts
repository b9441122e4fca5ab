import type { Request, Response } from 'express';
import { AppError, withDeadline, type Logger, type PriceBook } from '@switchyard/shared';
import { presentedKey, type KeyAuthenticator, type KeyRecord } from '../keys/index.js';
import {
  betaRefusal,
  hasBudget,
  modelRefusal,
  requestReservation,
  type Admission,
  type KeyLimiter,
} from '../limits/index.js';
import type { ProxyMetrics, RequestObservation } from '../metrics/index.js';
import { chatTranslation } from '../openai/chat-response.js';
import { translateChatRequest } from '../openai/chat-request.js';
import { modelsListTranslation } from '../openai/models-list.js';
import type { ModelAliases, ResponseTranslation } from '../openai/types.js';
import type { Forwarder } from '../proxy/index.js';
import {
  chooseNodes,
  sessionKeyOf,
  stickyTargetAfter,
  type RegistrySnapshot,
  type StickyStore,
} from '../routing/index.js';
import { trackRequestUsage, type RequestUsage, type UsageDraft } from '../usage/index.js';
import { holdBody, type BodyBudget } from './body-budget.js';
import { bodyFields, cacheWriteOf, parseBody, parseJsonObject, type ParsedBody } from './parse-body.js';
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

const EMPTY: Buffer = Buffer.alloc(0);
const NO_BODY: ParsedBody = { model: undefined, stream: false, thinking: false };
type ProxyRoute = 'messages' | 'chat_completions' | 'count_tokens' | 'models';

/** The version a translated request (or a models list asked without one) is sent with: the one the translation speaks. */
const ANTHROPIC_VERSION = '2023-06-01';
const NO_ALIASES: ModelAliases = new Map();

/** What a node gets for a request, and how its answer reaches the client. */
interface NodeBound {
  /** The Messages body: the client's bytes, or the translation's. */
  body: Buffer;
  parsed: ParsedBody;
  /** The path the node gets. */
  path: string;
  headers?: Record<string, string>;
  translation?: ResponseTranslation;
}

/** The routes whose requests reach a model: usage is counted and budgets reserve for them. */
function usesModel(route: ProxyRoute): route is 'messages' | 'chat_completions' {
  return route === 'messages' || route === 'chat_completions';
}

/** Where a request is in the route: a refusal before `body` leaves its body unread. */
interface Progress {
  bodyRead: boolean;
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
  return async function proxyRoute(req: Request, res: Response): Promise<void> {
    const { requestId, startedAt, receivedAt } = localsOf(res);
    const watch = deps.metrics?.observe(res, route) ?? UNWATCHED;
    const progress: Progress = { bodyRead: route === 'models' };
    let keyId: string | undefined;
    try {
      // 1. Who is calling (before reading any body, so strangers cannot make us buffer 32 MiB).
      const auth = await deps.authenticator.authenticate(presentedKey(req.headers));
      if (!auth.ok) throw auth.error;
      const key = auth.key;
      keyId = key.id;
      const usage = usesModel(route)
        ? trackRequestUsage(res, deps.usage, { requestId, keyId: key.id, at: receivedAt, startedAt, route })
        : undefined;
      try {
        await admitAndForward(deps, route, req, res, key, usage, watch, progress);
      } finally {
        usage?.settle();
      }
    } catch (err) {
      if (err instanceof AppError) refused(deps, req, res, err, { route, keyId, bodyRead: progress.bodyRead }, watch);
      throw err;
    } finally {
      watch.settled();
    }
  };
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
function refused(
  deps: ProxyRouteDeps,
  req: Request,
  res: Response,
  err: AppError,
  at: { route: ProxyRoute; keyId: string | undefined; bodyRead: boolean },
  watch: RequestObservation,
): void {
  watch.rejected(err.code);
  if (!at.bodyRead && !req.complete) res.once('finish', () => closeUnlessBodyEnds(req, UNREAD_BODY_GRACE_MS));
  deps.log.info('request refused', {
    requestId: localsOf(res).requestId,
    keyId: at.keyId,
    route: at.route,
    status: err.status,
    errorCode: err.code,
    bodyRead: at.bodyRead,
    socketBytesRead: req.socket.bytesRead,
  });
}

async function admitAndForward(
  deps: ProxyRouteDeps,
  route: ProxyRoute,
  req: Request,
  res: Response,
  key: KeyRecord,
  usage: RequestUsage | undefined,
  watch: RequestObservation,
  progress: Progress,
): Promise<void> {
  const { requestId, startedAt } = localsOf(res);
  // 2. What the headers alone decide: the betas the key may send, the body's claim on this gateway's body budget
  //    (by its declared length: a full gateway answers 503 without costing the key a request of its rate), then
  //    the key's limits (synchronous: no Redis round trip).
  const betaError = betaRefusal(key.allowedBetas, req.headers);
  if (betaError !== undefined) throw betaError;
  // Listing models is not using one: a key limited to some models may still list them; nor has it a body.
  const hold = route === 'models' ? undefined : holdBody(req, deps.maxBodyBytes, deps.bodyBudget, key.id);
  let admission: Admission | undefined;
  // Once a node may have been asked, the usage worker counts what it cost: the reservation waits for that count.
  let forwarded = false;
  try {
    admission = deps.limiter.admit(key, deps.now());
    if (!admission.ok) throw admission.error;
    // 3. The body, read once (a client waiting on `Expect: 100-continue` is asked for it only now) and parsed
    //    once; the bytes go upstream as they came (a Chat Completions body as its Messages translation). Then
    //    the model it names, and what it may cost.
    let bound: NodeBound = { body: EMPTY, parsed: NO_BODY, path: req.originalUrl, ...modelsListing(route, req) };
    if (hold !== undefined) {
      if (expectsContinue(req)) res.writeContinue();
      const raw = await hold.read();
      progress.bodyRead = true;
      bound =
        route === 'chat_completions'
          ? translated(raw, deps, requestId)
          : { body: raw, parsed: parseBody(raw), path: req.originalUrl };
      usage?.parsed(bound.parsed);
      watch.parsed(bound.parsed.model, bound.parsed.stream);
      const modelError = modelRefusal(key.allowedModels, bound.parsed.model);
      if (modelError !== undefined) throw modelError;
    }
    const { body, parsed } = bound;
    // Only a key with a budget reserves: pricing the reservation is the one part of it that costs CPU.
    if (usesModel(route) && hasBudget(key)) {
      const input = {
        requestId,
        bodyBytes: body.length,
        model: parsed.model,
        maxTokens: parsed.maxTokens,
        cacheWrite: cacheWriteOf(body, parsed),
      } as const;
      // A key this gateway saw for the first time a moment ago: its figures are being read (one round trip);
      // reserving before they arrive would measure a burst against nothing spent.
      const reading = admission.budgetFiguresRead();
      if (reading !== undefined)
        await withDeadline(reading, BUDGET_READ_WAIT_MS, 'budget figures').catch(() => undefined);
      const budgetError = admission.reserve(requestReservation(deps.priceBook, input));
      if (budgetError !== undefined) throw budgetError;
    }
    // Claude Code asks for thinking; an OpenAI client rarely does, so only the Messages route warns.
    if (route === 'messages' && !parsed.thinking) {
      deps.stats.requestsWithoutThinking++;
      deps.log.warn('request without thinking', { requestId, keyId: key.id, keyName: key.name, model: parsed.model });
    }

    // 4. The node: the conversation's own when it is available, else the least busy.
    const session = route === 'models' ? undefined : sessionKeyOf(key.id, req.headers, parsed);
    const stickyNodeId = session ? await deps.sticky.lookup(key.id, session.key) : undefined;
    const nodes = deps.registry.nodes();
    const choice = chooseNodes(nodes, {
      model: parsed.model,
      stickyNodeId,
      inFlight: (id) => deps.forwarder.inFlight(id),
      nowMs: deps.now(),
    });
    if (!choice.ok) throw choice.error;
    if (session) watch.sticky(choice.stickyHit);

    // 5. Forward; failover before the first byte happens inside. The usage capture watches the relayed answer.
    watch.forwarding();
    forwarded = true;
    const outcome = await deps.forwarder.forward(req, res, {
      requestId,
      keyId: key.id,
      method: req.method,
      path: bound.path,
      body,
      candidates: choice.order,
      ...(parsed.model === undefined ? {} : { model: parsed.model }),
      stream: parsed.stream,
      ...(usage === undefined ? {} : { observer: usage.capture }),
      ...(bound.headers === undefined ? {} : { headers: bound.headers }),
      ...(bound.translation === undefined ? {} : { translation: bound.translation }),
    });
    usage?.forwarded(outcome, {
      accountKind: nodes.find((n) => n.record.nodeId === outcome.nodeId)?.record.accountKind ?? null,
      sticky:
        stickyNodeId === undefined || outcome.nodeId === undefined
          ? 'none'
          : outcome.nodeId === stickyNodeId
            ? 'hit'
            : 'moved',
    });
    watch.forwarded(outcome);

    // A conversation keeps its node through a failover or a rate limit (its prompt cache lives there)
    // and returns to it once it is available again; it moves only when its node left or needs a human.
    if (session && outcome.nodeId && outcome.status < 400) {
      deps.sticky.remember(
        key.id,
        session.key,
        stickyTargetAfter(nodes, stickyNodeId, outcome.nodeId, { model: parsed.model, nowMs: deps.now() }),
      );
    }
    deps.log.info('request', {
      requestId,
      keyId: key.id,
      route,
      node: outcome.nodeId,
      model: parsed.model,
      stream: parsed.stream,
      status: outcome.status,
      durationMs: Math.round((performance.now() - startedAt) * 100) / 100,
      ttfbMs: outcome.ttfbMs,
      failovers: outcome.failovers,
      sticky: session === undefined ? 'none' : choice.stickyHit ? 'hit' : 'miss',
      aborted: outcome.aborted,
      brokeMidStream: outcome.brokeMidStream,
      upstreamRequestId: outcome.upstreamRequestId,
    });
  } finally {
    if (admission?.ok === true) admission.release({ awaitUsage: forwarded });
    hold?.release();
  }
}

/**
 * The longest a request waits for its key's budget figures on this gateway's first sight of the key (after a
 * start, or 10 idle minutes). Past it (Redis slow or away) it reserves on what this gateway knows: docs/BUDGETS.md.
 */
export const BUDGET_READ_WAIT_MS = 2_000;

/**
 * A Chat Completions body as the Messages request a node gets, and the translation of its answer back
 * (docs/OPENAI.md). The node's answer is read whole or frame by frame, so it must come uncompressed.
 */
function translated(raw: Buffer, deps: ProxyRouteDeps, requestId: string): NodeBound {
  const chat = translateChatRequest(parseJsonObject(raw), { aliases: deps.modelAliases ?? NO_ALIASES });
  const body = Buffer.from(JSON.stringify(chat.body));
  // The Messages form wraps some parts (tool results, schemas) in more JSON: the limit holds for what goes upstream.
  if (body.length > deps.maxBodyBytes)
    throw new AppError(
      'body_too_large',
      `Request body is too large once translated to the Messages format (more than ${deps.maxBodyBytes} bytes)`,
    );
  return {
    body,
    parsed: bodyFields(chat.body),
    path: '/v1/messages',
    // The body is the gateway's JSON, whatever type the client's claimed (curl -d says a form).
    headers: {
      'anthropic-version': ANTHROPIC_VERSION,
      'accept-encoding': 'identity',
      'content-type': 'application/json',
    },
    translation: chatTranslation({
      requestId,
      includeUsage: chat.includeUsage,
      created: Math.floor(deps.now() / 1000),
    }),
  };
}

/** The most models Anthropic lists on one page: an OpenAI client reads one page and never asks for the next. */
const WHOLE_MODEL_LIST = 1_000;

/**
 * `GET /v1/models` answers both SDKs (docs/OPENAI.md, "Models"): OpenAI's send no `anthropic-version`, so the
 * node gets the one the list is read in, and (asking no page) the whole list on one page; the list is read
 * whole, so it must come uncompressed.
 */
function modelsListing(route: ProxyRoute, req: Request): Partial<Pick<NodeBound, 'path' | 'headers' | 'translation'>> {
  if (route !== 'models') return {};
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  const openAiClient = req.headers['anthropic-version'] === undefined;
  if (openAiClient) headers['anthropic-version'] = ANTHROPIC_VERSION;
  const onePage = openAiClient && !req.originalUrl.includes('?');
  return {
    headers,
    translation: modelsListTranslation(),
    ...(onePage ? { path: `${req.originalUrl}?limit=${WHOLE_MODEL_LIST}` } : {}),
  };
}

function expectsContinue(req: Request): boolean {
  const expect = req.headers.expect;
  return expect !== undefined && expect.toLowerCase() === '100-continue';
}
