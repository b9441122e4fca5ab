import type { ServerResponse } from 'node:http';
import type { PromptParts, UsageRoute } from '@switchyard/shared';
import type { ForwardOutcome } from '../proxy/index.js';
import { createResponseCapture, type ResponseCapture } from './response-capture.js';
import type { DraftRouting, UsageDraft } from './usage-draft.js';

/** What the route learns about one `/v1/messages` (or `/v1/chat/completions`) request, handed to the recorder once its response ended. */
export interface RequestUsage {
  /** The observer to put on the forward job. */
  capture: ResponseCapture;
  /** The body parsed: its model, stream flag and prompt. */
  parsed(body: PromptParts & { model: string | undefined; stream: boolean }): void;
  /** The forwarder's report, and how the request was routed (the answering account's kind, the conversation's stickiness). */
  forwarded(outcome: ForwardOutcome, routing?: DraftRouting): void;
  /** The route handler returned or threw (a thrown refusal is written by the error handler right after). */
  settle(): void;
}

export interface RequestUsageBase {
  requestId: string;
  keyId: string;
  /** Epoch ms when the request arrived. */
  at: number;
  /** performance.now() when the request arrived. */
  startedAt: number;
  /** The client API the request came in on; default `messages`. `/v1/chat/completions` passes `chat_completions`. */
  route?: UsageRoute;
  /** The traceparent of the gateway's span for the request (tracing on): the usage job carries it. */
  traceparent?: string;
}

/**
 * Follows one authenticated request and records exactly one draft for it, once the handler settled
 * and the response closed (finished, or the client hung up): whichever comes second. The draft is only
 * fields and references; the recorder does the parsing and hashing later.
 */
export function trackRequestUsage(
  res: ServerResponse,
  recorder: { record(draft: UsageDraft): void },
  base: RequestUsageBase,
): RequestUsage {
  return new RequestUsageTracker(res, recorder, base);
}

type ParsedBody = PromptParts & { model: string | undefined; stream: boolean };

/** One request's usage: what the route told it, whether the handler settled, the response closed, the draft left. */
class RequestUsageTracker implements RequestUsage {
  readonly capture: ResponseCapture = createResponseCapture();
  readonly #res: ServerResponse;
  readonly #recorder: { record(draft: UsageDraft): void };
  readonly #base: RequestUsageBase;
  #body: ParsedBody | undefined;
  #outcome: ForwardOutcome | undefined;
  #routing: DraftRouting | undefined;
  #handlerDone = false;
  #closed: boolean;
  #recorded = false;

  constructor(res: ServerResponse, recorder: { record(draft: UsageDraft): void }, base: RequestUsageBase) {
    this.#res = res;
    this.#recorder = recorder;
    this.#base = base;
    this.#closed = res.closed;
    if (!this.#closed)
      res.once('close', () => {
        this.#closed = true;
        this.#maybeRecord();
      });
  }

  parsed(body: ParsedBody): void {
    this.#body = body;
  }

  forwarded(outcome: ForwardOutcome, routing?: DraftRouting): void {
    this.#outcome = outcome;
    this.#routing = routing;
  }

  settle(): void {
    this.#handlerDone = true;
    // A refusal thrown by the handler is written after this returns: wait for the response's close.
    this.#maybeRecord();
  }

  #maybeRecord(): void {
    if (this.#recorded || !this.#handlerDone || !this.#closed) return;
    this.#recorded = true;
    this.#recorder.record(this.#draft());
  }

  #draft(): UsageDraft {
    const { capture } = this;
    const res = this.#res;
    const base = this.#base;
    const body = this.#body;
    const outcome = this.#outcome;
    const routing = this.#routing;
    const answered = capture.answered();
    const d: UsageDraft = {
      requestId: base.requestId,
      at: base.at,
      keyId: base.keyId,
      route: base.route ?? 'messages',
      nodeId: answered ? (outcome?.nodeId ?? null) : null,
      model: body?.model ?? 'unknown',
      stream: body?.stream ?? false,
      status: outcome?.status ?? (res.headersSent ? res.statusCode : 499),
      durationMs: Math.round((performance.now() - base.startedAt) * 100) / 100,
      ttfbMs: outcome?.ttfbMs ?? null,
      aborted: outcome?.aborted ?? !res.writableFinished,
      brokeMidStream: outcome?.brokeMidStream ?? false,
      accountKind: answered && outcome?.nodeId !== undefined ? (routing?.accountKind ?? null) : null,
      sticky: answered ? (routing?.sticky ?? 'none') : 'none',
    };
    if (answered) d.capture = capture;
    if (base.traceparent !== undefined) d.traceparent = base.traceparent;
    if (body !== undefined && outcome !== undefined && this.#reachedModel(outcome))
      d.prompt = { tools: body.tools, system: body.system, messages: body.messages };
    return d;
  }

  // The prompt counts only when a model saw it: an upstream answer (its request-id is Anthropic's, not
  // ours, which a node's own refusal carries), or a hang-up while a node had the request.
  #reachedModel(o: ForwardOutcome): boolean {
    if (o.nodeId === undefined) return false;
    if (this.capture.answered())
      return o.upstreamRequestId !== undefined && o.upstreamRequestId !== this.#base.requestId;
    return o.aborted;
  }
}
