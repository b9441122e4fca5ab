import { z } from 'zod';
import { asRecord, stringOrNull } from './narrow.js';

const tokens = z.number().int().nonnegative();

/** The exact token counts of one response, as Anthropic reports them (0 for a field it left out). */
export const UsageSchema = z.object({
  inputTokens: tokens,
  outputTokens: tokens,
  cacheCreationInputTokens: tokens,
  cacheCreation5mInputTokens: tokens,
  cacheCreation1hInputTokens: tokens,
  cacheReadInputTokens: tokens,
});
export type Usage = z.infer<typeof UsageSchema>;

/** What a non-streaming message body says about its cost and ending. */
export interface MessageUsage {
  usage: Usage;
  stopReason: string | null;
  model: string | null;
  messageId: string | null;
}

/** A usage with every count at 0. */
export function emptyUsage(): Usage {
  return {
    inputTokens: 0,
    outputTokens: 0,
    cacheCreationInputTokens: 0,
    cacheCreation5mInputTokens: 0,
    cacheCreation1hInputTokens: 0,
    cacheReadInputTokens: 0,
  };
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.trunc(value) : undefined;
}

/**
 * Copies onto `target` every count the Anthropic `usage` object carries, leaving the others as they
 * are. Overwriting (never adding) is what makes cumulative `message_delta` usage come out right.
 */
export function applyUsage(target: Usage, raw: unknown): void {
  const usage = asRecord(raw);
  if (!usage) return;
  const input = count(usage.input_tokens);
  if (input !== undefined) target.inputTokens = input;
  const output = count(usage.output_tokens);
  if (output !== undefined) target.outputTokens = output;
  const creation = count(usage.cache_creation_input_tokens);
  if (creation !== undefined) target.cacheCreationInputTokens = creation;
  const read = count(usage.cache_read_input_tokens);
  if (read !== undefined) target.cacheReadInputTokens = read;
  const byTtl = asRecord(usage.cache_creation);
  if (!byTtl) return;
  const fiveMinutes = count(byTtl.ephemeral_5m_input_tokens);
  if (fiveMinutes !== undefined) target.cacheCreation5mInputTokens = fiveMinutes;
  const oneHour = count(byTtl.ephemeral_1h_input_tokens);
  if (oneHour !== undefined) target.cacheCreation1hInputTokens = oneHour;
}

/**
 * Reads usage, stop reason and model from a non-streaming `/v1/messages` response body (already
 * parsed). Returns null when the body is not a message (an error envelope, a count_tokens answer).
 */
export function usageFromMessage(json: unknown): MessageUsage | null {
  const body = asRecord(json);
  if (!body || body.type !== 'message') return null;
  const usage = emptyUsage();
  applyUsage(usage, body.usage);
  return {
    usage,
    stopReason: stringOrNull(body.stop_reason),
    model: stringOrNull(body.model),
    messageId: stringOrNull(body.id),
  };
}
