import {
  portableContent,
  usageModelName,
  type PromptDigest,
  type PromptParts,
  type ResponseContent,
  type UsageJob,
  type UsageRoute,
} from '@switchyard/shared';
import type { CaptureResult } from './response-capture.js';

/**
 * One finished client request (`/v1/messages`, or `/v1/chat/completions` as the Messages request it became) as
 * the route hands it to the recorder: cheap to build (no parsing, no hashing); the recorder turns it into a job
 * later, off the request path.
 */
export interface UsageDraft {
  requestId: string;
  /** Epoch ms when the request arrived. */
  at: number;
  keyId: string;
  /** The client API the request came in on (UsageJob.route). */
  route: UsageRoute;
  /** The node whose answer the client got; null when none answered. */
  nodeId: string | null;
  model: string;
  stream: boolean;
  status: number;
  durationMs: number;
  ttfbMs: number | null;
  aborted: boolean;
  brokeMidStream: boolean;
  /** The kind of the account that answered; null when none did. */
  accountKind: 'oauth' | 'api_key' | null;
  /** The conversation's stickiness as routed (UsageJob.sticky). */
  sticky: 'none' | 'hit' | 'moved';
  /** The relayed response's capture; absent when no node's answer was relayed. */
  capture?: { result(): CaptureResult };
  /** The prompt as parsed, for the digest; absent when it never reached a model (refused, or unparsed). */
  prompt?: PromptParts;
  /** The gateway request span's traceparent (tracing on): UsageJob.traceparent. */
  traceparent?: string;
}

/** How a request was routed, as far as its usage cares. */
export type DraftRouting = Pick<UsageDraft, 'accountKind' | 'sticky'>;

/** The answer as a job can carry it: a JSON answer's content with blocks nested too deep for the job as stand-ins. */
function portableOutput(output: ResponseContent | null | undefined): ResponseContent | null {
  if (output === undefined || output === null || output.kind === 'sse') return output ?? null;
  return { kind: 'message', content: portableContent(output.content) };
}

/**
 * The job payload, from a draft, its capture's result and its prompt's digest. The model is client text
 * and becomes part of keys: it is counted under `usageModelName` (as sent, unless it cannot be a key part).
 */
export function usageJobOf(
  draft: UsageDraft,
  captured: CaptureResult | undefined,
  prompt: PromptDigest | null,
): UsageJob {
  return {
    requestId: draft.requestId,
    at: Math.max(0, Math.trunc(draft.at)),
    keyId: draft.keyId,
    nodeId: draft.nodeId,
    model: usageModelName(draft.model),
    stream: draft.stream,
    status: draft.status,
    durationMs: Math.max(0, draft.durationMs),
    ttfbMs: draft.ttfbMs === null ? null : Math.max(0, draft.ttfbMs),
    aborted: draft.aborted,
    brokeMidStream: draft.brokeMidStream,
    usage: captured?.usage ?? null,
    stopReason: captured?.stopReason ?? null,
    endedCleanly: captured?.endedCleanly ?? false,
    prompt,
    output: portableOutput(captured?.output),
    accountKind: draft.accountKind,
    sticky: draft.sticky,
    route: draft.route,
    ...(draft.traceparent === undefined ? {} : { traceparent: draft.traceparent }),
  };
}
