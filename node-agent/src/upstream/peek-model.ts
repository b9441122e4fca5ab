// Model ids are short ASCII tokens; a bounded class keeps the scan linear on hostile input. The first "model"
// may be nested (a tool_use input, when an SDK puts messages before model): a value that is no model-id-shaped
// token (conversation text has spaces) is not taken, so it never names a span.
const MODEL_FIELD = /"model"\s*:\s*"([A-Za-z0-9][\w.:@/-]{0,127})"/;
const PEEK_BYTES = 1024;

/**
 * The request's model, if the first KB of the body names it (SDKs and Claude Code put `model`
 * first). A cheap hint for the per-model rate-limit state and the span name when the gateway sent none
 * (ForwardHeaders.model), never a parse: undefined when unsure.
 */
export function peekModel(body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  return MODEL_FIELD.exec(body.toString('latin1', 0, Math.min(body.length, PEEK_BYTES)))?.[1];
}
