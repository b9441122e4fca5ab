// The node's spans of one request (docs/TRACING.md, "What a trace holds"): the SERVER span under the gateway's
// tunnel hop, `credential` around taking (or refreshing) the account's credential, and a CLIENT span per call to
// Anthropic. Made only while tracing is on: with it off app.ts holds `undefined` here and makes no OpenTelemetry
// call at all.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  ANTHROPIC_PROVIDER,
  CHAT_OPERATION,
  contextFromHeaders,
  GenAiAttr,
  HttpAttr,
  SpanKind,
  SpanStatusCode,
  SwitchyardAttr,
  switchyardTracer,
  toAppError,
  trace,
  traceIdOf,
  withSpan,
  type Attributes,
  type Context,
  type Span,
} from '@switchyard/shared';
import type { AccessEntry } from '../http/access-log.js';
import { UpstreamCallSpan } from './upstream-call-span.js';

/** What every request's spans share, built once with the app. */
export interface TraceTarget {
  accountKind: 'oauth' | 'api_key';
  /** server.address and server.port of the calls to Anthropic. */
  serverAddress: string;
  serverPort: number;
}

/** The account's kind and where Anthropic is, for every request's spans. */
export function traceTargetOf(anthropicBaseUrl: URL, accountKind: TraceTarget['accountKind']): TraceTarget {
  const host = anthropicBaseUrl.hostname;
  return {
    accountKind,
    serverAddress: host.startsWith('[') ? host.slice(1, -1) : host,
    serverPort:
      anthropicBaseUrl.port === ''
        ? anthropicBaseUrl.protocol === 'https:'
          ? 443
          : 80
        : Number(anthropicBaseUrl.port),
  };
}

/**
 * One request's spans. The server span starts with the request (its parent the `traceparent` the gateway's tunnel
 * hop sent, or none) and ends when the response closes.
 */
export class RequestSpans {
  readonly #target: TraceTarget;
  readonly #entry: AccessEntry;
  readonly #server: Span;
  /** The server span's context: the parent of the spans below it. */
  readonly #context: Context;
  /** The code of the error the node answered with itself, if it did. */
  #refusal: string | undefined;

  constructor(target: TraceTarget, req: IncomingMessage, entry: AccessEntry) {
    this.#target = target;
    this.#entry = entry;
    const parent = contextFromHeaders(req.headers);
    const attributes: Attributes = {
      [HttpAttr.method]: entry.method,
      [HttpAttr.urlPath]: entry.path,
      [SwitchyardAttr.requestId]: entry.requestId,
    };
    // The routes are literal paths, so a known one is its own template; anything else (a 404) has none.
    if (entry.route !== undefined) attributes[HttpAttr.route] = entry.path;
    const agent = req.headers['user-agent'];
    if (agent !== undefined) attributes[HttpAttr.userAgent] = agent;
    const name = entry.route === undefined ? entry.method : `${entry.method} ${entry.path}`;
    this.#server = switchyardTracer().startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
    this.#context = trace.setSpan(parent, this.#server);
    entry.traceId = traceIdOf(this.#server);
  }

  /**
   * Runs `take` (step 5, or the refresh after a 401) as the active `credential` span, so an OAuth refresh it starts
   * becomes that span's child (`oauth refresh`, credentials/refresher.ts). A throw marks it with the error's code.
   */
  async credential<T>(take: () => Promise<T>): Promise<T> {
    const span = switchyardTracer().startSpan(
      'credential',
      { kind: SpanKind.INTERNAL, attributes: { [SwitchyardAttr.accountKind]: this.#target.accountKind } },
      this.#context,
    );
    try {
      return await withSpan(span, take);
    } catch (err) {
      span.setAttribute(HttpAttr.errorType, toAppError(err).code);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw err;
    } finally {
      span.end();
    }
  }

  /**
   * Step 6: the span of one call to Anthropic. A Messages call is the GenAI client span `chat <model>` (`chat` when
   * the body's start names no model); count_tokens and models are plain HTTP client spans, `<method> <path>`.
   */
  startCall(model: string | undefined): UpstreamCallSpan {
    const { method, path } = this.#entry;
    const attributes: Attributes = {
      [HttpAttr.method]: method,
      [HttpAttr.serverAddress]: this.#target.serverAddress,
      [HttpAttr.serverPort]: this.#target.serverPort,
    };
    let name = `${method} ${path}`;
    if (this.#entry.route === 'messages') {
      name = model === undefined ? CHAT_OPERATION : `${CHAT_OPERATION} ${model}`;
      attributes[GenAiAttr.operation] = CHAT_OPERATION;
      attributes[GenAiAttr.provider] = ANTHROPIC_PROVIDER;
      if (model !== undefined) attributes[GenAiAttr.requestModel] = model;
    }
    const span = switchyardTracer().startSpan(name, { kind: SpanKind.CLIENT, attributes }, this.#context);
    return new UpstreamCallSpan(span);
  }

  /** The node answered with an error of its own (404, 503 draining, 413, 502/504, the credential's 503). */
  refused(err: unknown): void {
    this.#refusal = toAppError(err).code;
  }

  /**
   * The response closed: its status, and for a refusal its error code as error.type. Only a 5xx is an error of the
   * server span; a 4xx is the client's (the HTTP conventions). A relayed 5xx has its status as error.type.
   */
  closed(res: ServerResponse): void {
    const span = this.#server;
    if (res.headersSent) {
      const status = res.statusCode;
      span.setAttribute(HttpAttr.status, status);
      const errorType = this.#refusal ?? (status >= 500 ? String(status) : undefined);
      if (errorType !== undefined) span.setAttribute(HttpAttr.errorType, errorType);
      if (status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
    }
    span.end();
  }
}
