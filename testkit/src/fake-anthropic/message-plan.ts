// What a /v1/messages request asks for, and the deterministic answer the fake gives it.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { newMessageId, newToolUseId } from './ids.js';
import type { CacheUsage } from './prompt-cache.js';
import { countTextTokens } from './tokenizer.js';

const BlockSchema = z.looseObject({ type: z.string() });

/** One message of the conversation. */
export const MessageParamSchema = z.looseObject({
  // Claude Code (2.1.197) also sends `system` messages between the turns (a reminder the harness adds); the API takes them.
  role: z.enum(['user', 'assistant', 'system']),
  content: z.union([z.string(), z.array(BlockSchema)]),
});
export type MessageParam = z.infer<typeof MessageParamSchema>;

/** A count_tokens body: a messages body without max_tokens and stream. */
export const CountTokensRequestSchema = z.looseObject({
  model: z.string().min(1),
  messages: z.array(MessageParamSchema).min(1),
  system: z.union([z.string(), z.array(BlockSchema)]).optional(),
  tools: z.array(z.looseObject({ name: z.string().min(1), input_schema: z.unknown().optional() })).optional(),
  tool_choice: z
    .looseObject({
      type: z.enum(['auto', 'any', 'tool', 'none']),
      name: z.string().optional(),
      disable_parallel_tool_use: z.boolean().optional(),
    })
    .optional(),
  thinking: z.looseObject({ type: z.string() }).optional(),
});
export type CountTokensRequest = z.infer<typeof CountTokensRequestSchema>;

/** The fields of a messages body the fake reads; everything else passes unchecked. */
export const MessagesRequestSchema = CountTokensRequestSchema.extend({
  max_tokens: z.number().int().positive(),
  stream: z.boolean().optional(),
});
export type MessagesRequest = z.infer<typeof MessagesRequestSchema>;

/** Validates a body; the message reads like the API's ("max_tokens: Field required"). */
export function parseBody<T>(
  schema: z.ZodType<T>,
  body: unknown,
): { ok: true; value: T } | { ok: false; message: string } {
  const result = schema.safeParse(body);
  if (result.success) return { ok: true, value: result.data };
  const issue = result.error.issues[0];
  const path = issue?.path.join('.') || 'body';
  const top = issue?.path[0];
  const missing =
    typeof body === 'object' && body !== null && typeof top === 'string' && issue?.path.length === 1 && !(top in body);
  return { ok: false, message: `${path}: ${missing ? 'Field required' : (issue?.message ?? 'invalid')}` };
}

/** A block of the planned answer, with its stream chunks. */
export type PlannedBlock =
  | { type: 'thinking'; thinking: string; signature: string; chunks: string[] }
  | { type: 'text'; text: string; chunks: string[] }
  | { type: 'tool_use'; id: string; name: string; input: Record<string, unknown>; chunks: string[] };

/** The whole answer, identical for JSON and SSE. */
export interface MessagePlan {
  id: string;
  model: string;
  blocks: PlannedBlock[];
  stopReason: 'end_turn' | 'tool_use' | 'max_tokens';
  usage: CacheUsage;
  outputTokens: number;
}

const DEFAULT_TEXT = 'Hello from the fake Anthropic upstream. This reply is deterministic, so tests can compare it.';

/** Splits text into at most `parts` chunks of about equal length (never splitting a code point). */
export function splitText(text: string, parts: number): string[] {
  const chars = Array.from(text);
  const size = Math.max(1, Math.ceil(chars.length / Math.max(1, parts)));
  const chunks: string[] = [];
  for (let i = 0; i < chars.length; i += size) chunks.push(chars.slice(i, i + size).join(''));
  return chunks.length > 0 ? chunks : [''];
}

function fitWithin(text: string, budget: number): string {
  if (countTextTokens(text) <= budget) return text;
  let bytes = 0;
  let out = '';
  for (const char of text) {
    bytes += Buffer.byteLength(char);
    if (bytes > budget * 4) break;
    out += char;
  }
  return out;
}

function sampleValue(schema: unknown, depth: number): unknown {
  if (typeof schema !== 'object' || schema === null) return 'fake';
  const s = schema as { type?: unknown; enum?: unknown; properties?: unknown };
  if (Array.isArray(s.enum) && s.enum.length > 0) return s.enum[0] as unknown;
  if (s.type === 'number' || s.type === 'integer') return 1;
  if (s.type === 'boolean') return true;
  if (s.type === 'array') return [];
  if (s.type === 'object' || s.properties !== undefined) return depth > 3 ? {} : sampleObject(s, depth + 1);
  return 'fake';
}

function sampleObject(schema: unknown, depth = 0): Record<string, unknown> {
  const properties = (schema as { properties?: unknown } | undefined)?.properties;
  if (typeof properties !== 'object' || properties === null) return {};
  return Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, sampleValue(value, depth)]));
}

type ToolParam = { name: string; input_schema?: unknown };

/**
 * The tools the answer calls: the named one for `tool`, the first for `any`, none otherwise. With
 * `parallelToolUse`, `any` calls every tool listed, in order, unless the request disables parallel tool use.
 */
function chosenTools(request: MessagesRequest, parallelToolUse: boolean): ToolParam[] {
  const choice = request.tool_choice;
  const tools = request.tools ?? [];
  if (choice?.type === 'tool') {
    const named = tools.find((tool) => tool.name === choice.name) ?? tools[0];
    return named ? [named] : [];
  }
  if (choice?.type !== 'any') return [];
  if (parallelToolUse && choice.disable_parallel_tool_use !== true) return tools;
  return tools.slice(0, 1);
}

/** Plans the deterministic answer to a validated request. */
export function planMessage(
  request: MessagesRequest,
  usage: CacheUsage,
  options: { textDeltas: number; responseText?: string | ((body: unknown) => string); parallelToolUse?: boolean },
): MessagePlan {
  const blocks: PlannedBlock[] = [];
  let budget = request.max_tokens;
  let stopReason: MessagePlan['stopReason'] = 'end_turn';
  const thinkingType = request.thinking?.type;
  if (thinkingType === 'enabled' || thinkingType === 'adaptive') {
    const full = `The user sent ${request.messages.length} message(s); a short, deterministic reply will do.`;
    const thinking = fitWithin(full, budget);
    budget -= countTextTokens(thinking);
    const signature = createHash('sha512').update(thinking).digest('base64');
    blocks.push({ type: 'thinking', thinking, signature, chunks: splitText(thinking, 2) });
  }
  const configured = options.responseText;
  const wanted = typeof configured === 'function' ? configured(request) : (configured ?? DEFAULT_TEXT);
  const text = fitWithin(wanted, budget);
  if (text !== wanted) stopReason = 'max_tokens';
  budget -= countTextTokens(text);
  blocks.push({ type: 'text', text, chunks: splitText(text, options.textDeltas) });
  const tools = stopReason === 'end_turn' ? chosenTools(request, options.parallelToolUse === true) : [];
  for (const tool of tools) {
    const input = sampleObject(tool.input_schema);
    const json = JSON.stringify(input);
    if (countTextTokens(json) > budget) {
      stopReason = 'max_tokens';
      break;
    }
    budget -= countTextTokens(json);
    blocks.push({ type: 'tool_use', id: newToolUseId(), name: tool.name, input, chunks: splitText(json, 3) });
    stopReason = 'tool_use';
  }
  return { id: newMessageId(), model: request.model, blocks, stopReason, usage, outputTokens: outputTokens(blocks) };
}

function outputTokens(blocks: PlannedBlock[]): number {
  let total = 0;
  for (const block of blocks) {
    if (block.type === 'thinking') total += countTextTokens(block.thinking);
    else if (block.type === 'text') total += countTextTokens(block.text);
    else total += countTextTokens(JSON.stringify(block.input));
  }
  return total;
}
