// Model ids are short ASCII; a bounded class keeps the scan linear on hostile input.
const MODEL_FIELD = /"model"\s*:\s*"([^"\\]{1,128})"/;
const PEEK_BYTES = 1024;

/**
 * The request's model, if the first KB of the body names it (SDKs and Claude Code put `model`
 * first). A cheap hint for the per-model rate-limit state, never a parse: undefined when unsure.
 */
export function peekModel(body: Buffer): string | undefined {
  if (body.length === 0) return undefined;
  return MODEL_FIELD.exec(body.toString('latin1', 0, Math.min(body.length, PEEK_BYTES)))?.[1];
}
