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
  const capture = createResponseCapture();
  let body: (PromptParts & { model: string | undefined; stream: boolean }) | undefined;
  let outcome: ForwardOutcome | undefined;
  let routing: DraftRouting | undefined;
  let handlerDone = false;
  let closed = res.closed;
  let recorded = false;

  // The prompt counts only when a model saw it: an upstream answer (its request-id is Anthropic's, not
  // ours, which a node's own refusal carries), or a hang-up while a node had the request.
  function reachedModel(o: ForwardOutcome): boolean {
    if (o.nodeId === undefined) return false;
    if (capture.answered()) return o.upstreamRequestId !== undefined && o.upstreamRequestId !== base.requestId;
    return o.aborted;
  }

  function draft(): UsageDraft {
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
    if (body !== undefined && outcome !== undefined && reachedModel(outcome))
      d.prompt = { tools: body.tools, system: body.system, messages: body.messages };
    return d;
  }

  function maybeRecord(): void {
    if (recorded || !handlerDone || !closed) return;
    recorded = true;
    recorder.record(draft());
  }

  if (!closed)
    res.once('close', () => {
      closed = true;
      maybeRecord();
    });

  return {
    capture,
    parsed(b) {
      body = b;
    },
    forwarded(o, r) {
      outcome = o;
      routing = r;
    },
    settle() {
      handlerDone = true;
      // A refusal thrown by the handler is written after this returns: wait for the response's close.
      maybeRecord();
    },
  };
}
