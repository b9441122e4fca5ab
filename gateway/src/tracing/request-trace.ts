// One client request's spans (docs/TRACING.md): the SERVER span of its route, one INTERNAL span per step of the
// route under it (authenticate, limits, route, forward), and under `forward` one CLIENT span per tunnel hop. Made
// only while tracing is on: with it off the route holds UNTRACED, whose methods do nothing, and the forward job
// carries no trace, so a request makes no OpenTelemetry call at all (the route checks one flag, once, when made).
// What a span may hold: ids, names, counts and statuses; never prompt text, a credential, or a header's value
// other than the user agent.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import {
  ANTHROPIC_PROVIDER,
  AppError,
  CHAT_OPERATION,
  GenAiAttr,
  HttpAttr,
  SpanKind,
  SpanStatusCode,
  SwitchyardAttr,
  TRACE_RESPONSE_HEADER,
  contextFromHeaders,
  injectTraceContext,
  trace,
  traceIdOf,
  traceparentOf,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@switchyard/shared';
import type { FailoverReason, ForwardTrace, HopTrace } from '../proxy/index.js';

/** The route's steps, each a span under the request's (proxy-routes.ts numbers them). */
export type RequestStep = 'authenticate' | 'limits' | 'route' | 'forward';

/** What the route tells its request's trace, step by step. */
export interface RequestTrace {
  /** The request's trace id, for its log line (none: tracing off). */
  readonly traceId: string | undefined;
  /** The request span's traceparent: the usage job's link, the client's `traceresponse` (none: tracing off). */
  readonly traceparent: string | undefined;
  /** A step begins (the one before it ends). */
  step(name: RequestStep): void;
  authenticated(keyId: string): void;
  /** The body was parsed: what it asks for (its model, max_tokens, whether it streams; never its text). */
  parsed(body: { model: string | undefined; maxTokens?: number; stream: boolean }): void;
  /** The node was chosen: stickiness, the first choice, how many candidates in all. */
  routed(sticky: 'hit' | 'miss' | 'none', nodeId: string | undefined, candidates: number): void;
  /** Step 4 begins: what the forwarder reports into (none: tracing off). */
  forwarding(): ForwardTrace | undefined;
  /** The request is refused, or failed: the error handler answers it next (with `traceresponse`). */
  failed(err: unknown): void;
  /** The route handler is over: its last step ends. The request's span ends when the response closes. */
  settled(): void;
}

const ignore = (): void => undefined;

/** The trace of every request while tracing is off: nothing is made, nothing is called. */
export const UNTRACED: RequestTrace = Object.freeze({
  traceId: undefined,
  traceparent: undefined,
  step: ignore,
  authenticated: ignore,
  parsed: ignore,
  routed: ignore,
  forwarding: () => undefined,
  failed: ignore,
  settled: ignore,
});

/**
 * One proxy route's tracer: `begin` makes each request's trace. Made once per route, and only while tracing is on.
 * @example
 * const tracer = deps.tracing ? new RouteTracer(switchyardTracer(), '/v1/messages', true) : undefined;
 * const requestTrace = tracer?.begin(req, res, requestId) ?? UNTRACED;
 */
export class RouteTracer {
  readonly #tracer: Tracer;
  readonly #route: string;
  readonly #chat: boolean;

  /** `route` is the route's template (http.route); `chat` marks a route whose requests are chat calls (gen_ai.*). */
  constructor(tracer: Tracer, route: string, chat: boolean) {
    this.#tracer = tracer;
    this.#route = route;
    this.#chat = chat;
  }

  /** The request's span, under the client's `traceparent` (when well-formed); it ends when `res` closes. */
  begin(req: IncomingMessage, res: ServerResponse, requestId: string): RequestTrace {
    const method = req.method ?? 'GET';
    const attributes: Attributes = {
      [HttpAttr.method]: method,
      [HttpAttr.route]: this.#route,
      [HttpAttr.urlPath]: pathOf(req.url),
      [SwitchyardAttr.requestId]: requestId,
    };
    const userAgent = req.headers['user-agent'];
    if (userAgent !== undefined) attributes[HttpAttr.userAgent] = userAgent;
    if (this.#chat) {
      attributes[GenAiAttr.operation] = CHAT_OPERATION;
      attributes[GenAiAttr.provider] = ANTHROPIC_PROVIDER;
    }
    const parent = contextFromHeaders(req.headers);
    const span = this.#tracer.startSpan(`${method} ${this.#route}`, { kind: SpanKind.SERVER, attributes }, parent);
    return new TracedRequest(this.#tracer, span, trace.setSpan(parent, span), res, this.#chat);
  }
}

/** The path of a request target, without its query (url.path). */
function pathOf(target: string | undefined): string {
  if (target === undefined) return '/';
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

/** Error status for a 5xx (a 4xx is the client's error and leaves a server span's status unset). */
function markError(span: Span, errorType: string, status: number): void {
  span.setAttribute(HttpAttr.errorType, errorType);
  if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
}

/** One request's spans while tracing is on: the request's, the step's open now, and what the forwarder reports. */
class TracedRequest implements RequestTrace, ForwardTrace {
  readonly traceId: string | undefined;
  readonly traceparent: string | undefined;
  readonly #tracer: Tracer;
  readonly #span: Span;
  /** The context with the request's span: the steps' parent. */
  readonly #context: Context;
  readonly #res: ServerResponse;
  readonly #chat: boolean;
  #step: Span | undefined;
  /** The context with the forward step's span: the hops' parent. */
  #forwardContext: Context | undefined;
  #errorType: string | undefined;
  #ended = false;

  constructor(tracer: Tracer, span: Span, context: Context, res: ServerResponse, chat: boolean) {
    this.#tracer = tracer;
    this.#span = span;
    this.#context = context;
    this.#res = res;
    this.#chat = chat;
    this.traceId = traceIdOf(span);
    this.traceparent = traceparentOf(span);
    res.once('close', this.#closed);
  }

  get traceresponse(): string | undefined {
    return this.traceparent;
  }

  step(name: RequestStep): void {
    this.#step?.end();
    this.#step = this.#tracer.startSpan(name, { kind: SpanKind.INTERNAL }, this.#context);
  }

  // The request's span may have ended (its response closed: the client went away) while the handler goes on.
  authenticated(keyId: string): void {
    if (this.#ended) return;
    this.#span.setAttribute(SwitchyardAttr.keyId, keyId);
  }

  parsed(body: { model: string | undefined; maxTokens?: number; stream: boolean }): void {
    if (this.#ended) return;
    const span = this.#span;
    span.setAttribute(SwitchyardAttr.stream, body.stream);
    if (!this.#chat) return;
    if (body.model !== undefined) span.setAttribute(GenAiAttr.requestModel, body.model);
    if (body.maxTokens !== undefined) span.setAttribute(GenAiAttr.requestMaxTokens, body.maxTokens);
  }

  routed(sticky: 'hit' | 'miss' | 'none', nodeId: string | undefined, candidates: number): void {
    const step = this.#step;
    if (step === undefined) return;
    step.setAttribute(SwitchyardAttr.sticky, sticky);
    if (nodeId !== undefined) step.setAttribute(SwitchyardAttr.nodeId, nodeId);
    step.setAttribute(SwitchyardAttr.candidates, candidates);
  }

  forwarding(): ForwardTrace {
    this.step('forward');
    this.#forwardContext = trace.setSpan(this.#context, this.#step as Span);
    return this;
  }

  hop(nodeId: string, method: string, headers: IncomingHttpHeaders): HopTrace {
    const span = this.#tracer.startSpan(
      'tunnel hop',
      { kind: SpanKind.CLIENT, attributes: { [SwitchyardAttr.nodeId]: nodeId, [HttpAttr.method]: method } },
      this.#forwardContext ?? this.#context,
    );
    return new TracedHop(span, headers);
  }

  failover(nodeId: string, reason: FailoverReason): void {
    this.#step?.addEvent('failover', { [SwitchyardAttr.nodeId]: nodeId, [SwitchyardAttr.failoverReason]: reason });
  }

  answered(nodeId: string): void {
    this.#step?.setAttribute(SwitchyardAttr.nodeId, nodeId);
  }

  failed(err: unknown): void {
    const [code, status] = err instanceof AppError ? [err.code, err.status] : ['internal', 500];
    this.#errorType = code;
    if (this.#step !== undefined) markError(this.#step, code, status);
    if (!this.#ended) markError(this.#span, code, status);
    // The error handler's answer keeps it (writeErrorResponse sets its headers one by one, beside this one).
    const res = this.#res;
    if (this.traceparent !== undefined && !res.headersSent) res.setHeader(TRACE_RESPONSE_HEADER, this.traceparent);
  }

  settled(): void {
    this.#step?.end();
    this.#step = undefined;
  }

  readonly #closed = (): void => {
    this.#ended = true;
    const span = this.#span;
    const res = this.#res;
    // Not sent: the client went away first (the request's log line says 499); no status to report.
    if (res.headersSent) {
      span.setAttribute(HttpAttr.status, res.statusCode);
      if (res.statusCode >= 500 && this.#errorType === undefined)
        markError(span, String(res.statusCode), res.statusCode);
    }
    span.end();
  };
}

/** One attempt on one node: its CLIENT span and the headers that carry it to the node. */
/** error.type of an answer that broke off after its head (the node's chat span uses the same). */
const INCOMPLETE_RESPONSE = 'incomplete_response';

class TracedHop implements HopTrace {
  readonly headers: IncomingHttpHeaders;
  readonly #span: Span;
  readonly #startedAt = performance.now();

  constructor(span: Span, shared: IncomingHttpHeaders) {
    this.#span = span;
    // The request's headers are shared by its attempts: each hop sends a copy with its own traceparent.
    const headers = { ...shared };
    injectTraceContext(span, headers);
    this.headers = headers;
  }

  responded(status: number): void {
    this.#span.setAttribute(HttpAttr.status, status);
    // A client span's 4xx is an error too (the HTTP conventions): the node refused this attempt.
    if (status >= 400) {
      this.#span.setAttribute(HttpAttr.errorType, String(status));
      this.#span.setStatus({ code: SpanStatusCode.ERROR });
    }
  }

  firstByte(): void {
    this.#span.addEvent('first_byte');
    this.#span.setAttribute(SwitchyardAttr.ttfbMs, Math.round((performance.now() - this.#startedAt) * 100) / 100);
  }

  unreachable(code: string | undefined): void {
    this.#span.setAttribute(HttpAttr.errorType, code ?? 'unreachable');
    this.#span.setStatus({ code: SpanStatusCode.ERROR });
  }

  broken(): void {
    this.#span.setAttribute(HttpAttr.errorType, INCOMPLETE_RESPONSE);
    this.#span.setStatus({ code: SpanStatusCode.ERROR });
  }

  end(): void {
    this.#span.end();
  }
}
