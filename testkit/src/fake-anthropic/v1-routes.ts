// The /v1 API: version and credential checks, faults, then messages, count_tokens and models.
import type { AccountState } from './accounts.js';
import { authenticate, presentedCredential } from './auth.js';
import type { FakeState, RequestContext } from './context.js';
import { accountHeaders, ERROR_FAULT_KINDS, exhaustedWindow, sendExhausted, sendFault } from './fault-responses.js';
import type { FaultTarget } from './faults.js';
import { sendError, sendJson, sleep } from './http-io.js';
import { CountTokensRequestSchema, parseBody } from './message-plan.js';
import type { BodyFaults } from './messages-route.js';
import { handleMessages, isKnownModel } from './messages-route.js';
import { countInputTokens } from './tokenizer.js';

const MODELS = [
  { id: 'claude-opus-4-7', display_name: 'Claude Opus 4.7', created_at: '2026-04-01T00:00:00Z' },
  { id: 'claude-sonnet-4-6', display_name: 'Claude Sonnet 4.6', created_at: '2026-02-01T00:00:00Z' },
  { id: 'claude-opus-4-5-20251101', display_name: 'Claude Opus 4.5', created_at: '2025-11-01T00:00:00Z' },
  { id: 'claude-haiku-4-5-20251001', display_name: 'Claude Haiku 4.5', created_at: '2025-10-01T00:00:00Z' },
  { id: 'claude-sonnet-4-5-20250929', display_name: 'Claude Sonnet 4.5', created_at: '2025-09-29T00:00:00Z' },
].map((model) => ({ type: 'model', ...model }));

function fieldOf(json: unknown, field: string): unknown {
  return typeof json === 'object' && json !== null ? (json as Record<string, unknown>)[field] : undefined;
}

/** Authenticates; on failure answers 400/401 and returns undefined. */
function admit(ctx: RequestContext, state: FakeState): AccountState | undefined {
  const { req, record, requestId, res } = ctx;
  if (state.options.requireVersionHeader && !req.headers['anthropic-version']) {
    sendError(res, 400, 'anthropic-version: header is required', requestId);
    return undefined;
  }
  const credential = presentedCredential(req.headers);
  const result = authenticate(credential, record.betas, state.accounts);
  if (!result.ok) {
    sendError(res, 401, result.message, requestId);
    return undefined;
  }
  record.accountId = result.account.id;
  if (result.usedApiKey && credential.bearer) {
    record.apiKey = credential.bearer;
    delete record.accessToken;
  }
  return state.accounts.current(result.account.id);
}

/** Serves one /v1 request. */
export async function dispatchV1(ctx: RequestContext, state: FakeState): Promise<void> {
  const account = admit(ctx, state);
  if (!account) return;
  const headers = accountHeaders(account, Date.now());
  const model = fieldOf(ctx.json, 'model');
  const target: FaultTarget = { route: ctx.route, accountId: account.id };
  if (typeof model === 'string') target.model = model;

  const slow = state.faults.take(target, ['slow_first_byte']);
  const pacing = ctx.route === 'messages' ? state.timing.firstByteDelayMs : 0;
  await sleep((slow?.delayMs ?? 0) + pacing, ctx.signal);
  if (ctx.signal.aborted) return;

  const fault = state.faults.take(target, ERROR_FAULT_KINDS);
  if (fault) return sendFault(ctx, account, fault, headers, Date.now());
  const exhausted = ctx.route === 'messages' ? exhaustedWindow(account) : undefined;
  if (exhausted) return sendExhausted(ctx, account, exhausted, Date.now());

  const faults: BodyFaults = {};
  const reset = state.faults.take(target, ['reset_after_bytes']);
  if (reset) faults.resetAfterBytes = reset.bytes;
  if (ctx.route === 'messages' && fieldOf(ctx.json, 'stream') === true) {
    const mid = state.faults.take(target, ['mid_stream_error']);
    if (mid) faults.midStreamError = { afterEvents: mid.afterEvents, errorType: mid.errorType ?? 'overloaded_error' };
    const stall = state.faults.take(target, ['stall_after_events']);
    if (stall) faults.stallAfterEvents = stall.afterEvents;
  }

  if (ctx.route === 'messages') return handleMessages(ctx, state, account, { headers, faults });
  if (ctx.route === 'count_tokens') return countTokens(ctx, headers, faults);
  return listModels(ctx, headers, faults);
}

function countTokens(ctx: RequestContext, headers: Record<string, string>, faults: BodyFaults): void {
  const parsed = parseBody(CountTokensRequestSchema, ctx.json);
  if (!parsed.ok) return sendError(ctx.res, 400, parsed.message, ctx.requestId, { headers });
  if (!isKnownModel(parsed.value.model)) {
    return sendError(ctx.res, 404, `model: ${parsed.value.model}`, ctx.requestId, { headers });
  }
  sendJson(
    ctx.res,
    200,
    { input_tokens: countInputTokens(parsed.value) },
    {
      headers,
      resetAfterBytes: faults.resetAfterBytes,
    },
  );
}

function listModels(ctx: RequestContext, headers: Record<string, string>, faults: BodyFaults): void {
  const id = ctx.url.pathname.slice('/v1/models/'.length);
  if (ctx.url.pathname.startsWith('/v1/models/') && id) {
    const model = MODELS.find((candidate) => candidate.id === id);
    if (!model) return sendError(ctx.res, 404, `model: ${id}`, ctx.requestId, { headers });
    sendJson(ctx.res, 200, model, { headers, resetAfterBytes: faults.resetAfterBytes });
    return;
  }
  const limit = Number(ctx.url.searchParams.get('limit') ?? 20);
  const data = MODELS.slice(0, Number.isFinite(limit) && limit > 0 ? limit : 20);
  const body = {
    data,
    first_id: data[0]?.id ?? null,
    last_id: data.at(-1)?.id ?? null,
    has_more: data.length < MODELS.length,
  };
  sendJson(ctx.res, 200, body, { headers, resetAfterBytes: faults.resetAfterBytes });
}
