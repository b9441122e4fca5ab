// POST /v1/messages: validate, consult the account's prompt cache, answer as JSON or SSE.
import type { AnthropicErrorType } from '@switchyard/shared';
import type { AccountState } from './accounts.js';
import type { FakeState, RequestContext } from './context.js';
import { createBodyWriter, sendError, sendJson } from './http-io.js';
import type { MessagePlan } from './message-plan.js';
import { MessagesRequestSchema, parseBody, planMessage } from './message-plan.js';
import { messageJson, sseEvents, writeStream } from './message-stream.js';
import { promptSegments } from './tokenizer.js';

/** Faults that shape the body of this one response. */
export interface BodyFaults {
  resetAfterBytes?: number;
  midStreamError?: { afterEvents: number; errorType: AnthropicErrorType };
  stallAfterEvents?: number;
}

/** True for a model name the fake serves; the API answers 404 for others. */
export function isKnownModel(model: string): boolean {
  return model.startsWith('claude-');
}

/** Answers a messages request for an authenticated account. */
export async function handleMessages(
  ctx: RequestContext,
  state: FakeState,
  account: AccountState,
  options: { headers: Record<string, string>; faults: BodyFaults },
): Promise<void> {
  const parsed = parseBody(MessagesRequestSchema, ctx.json);
  if (!parsed.ok) return sendError(ctx.res, 400, parsed.message, ctx.requestId, { headers: options.headers });
  const request = parsed.value;
  if (!isKnownModel(request.model)) {
    return sendError(ctx.res, 404, `model: ${request.model}`, ctx.requestId, { headers: options.headers });
  }
  const usage = state.cache.apply(account.id, request.model, promptSegments(request));
  const plan = planMessage(request, usage, state.timing);
  let eventsSent = 0;
  const stream = request.stream === true;
  ctx.res.on('close', () => {
    state.emit('stream-closed', {
      requestId: ctx.requestId,
      accountId: account.id,
      stream,
      complete: ctx.res.writableFinished,
      eventsSent,
    });
  });
  if (!stream) {
    const whole = sendJson(ctx.res, 200, messageJson(plan), {
      headers: options.headers,
      resetAfterBytes: options.faults.resetAfterBytes,
    });
    if (whole) reportInput(state, account.id, plan, plan.outputTokens);
    return;
  }
  ctx.res.writeHead(200, {
    ...options.headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
  });
  ctx.res.flushHeaders();
  ctx.record.status = 200;
  const writer = createBodyWriter(ctx.res, options.faults.resetAfterBytes);
  await writeStream(writer, sseEvents(plan), {
    requestId: ctx.requestId,
    deltaIntervalMs: state.timing.deltaIntervalMs,
    signal: ctx.signal,
    ...(options.faults.midStreamError ? { midStreamError: options.faults.midStreamError } : {}),
    ...(options.faults.stallAfterEvents === undefined ? {} : { stallAfterEvents: options.faults.stallAfterEvents }),
    onEvent: (event) => {
      eventsSent += 1;
      // Count what the client was told: message_start carries input and output 1, message_delta the rest.
      if (event.event === 'message_start') reportInput(state, account.id, plan, 1);
      if (event.event === 'message_delta') state.ledger.add(account.id, { output: plan.outputTokens - 1 });
    },
  });
}

function reportInput(state: FakeState, accountId: string, plan: MessagePlan, output: number): void {
  state.ledger.add(accountId, {
    input: plan.usage.inputTokens,
    cacheCreation: plan.usage.cacheCreationInputTokens,
    cacheRead: plan.usage.cacheReadInputTokens,
    output,
    requests: 1,
  });
}
