// A Chat Completions request as a Messages request: the "Request: Chat Completions → Messages" table of
// docs/OPENAI.md, row by row (the messages themselves are chat-messages.ts). Refused fields are refused here, before
// anything reaches a node; ignored ones are dropped. Pure: the route serialises the body and forwards it.
import { AppError } from '@switchyard/shared';
import {
  arrayAt,
  isAbsent,
  isObject,
  objectAt,
  refuse,
  required,
  stringAt,
  translateMessages,
  wrongType,
  type Block,
  type JsonObject,
} from './chat-messages.js';
import type { ChatRequestOptions, ModelAliases, TranslatedChatRequest } from './types.js';

/** `max_tokens` when the client sets none: a reply of a few pages, which most chat clients assume. */
const DEFAULT_MAX_TOKENS = 4096;

/** Anthropic's smallest thinking budget. */
const MIN_THINKING_BUDGET = 1024;

const THINKING_BUDGETS: Readonly<Record<string, number>> = {
  minimal: 1024,
  low: 2048,
  medium: 8192,
  high: 16384,
  xhigh: 32000,
};

/** Fields the table maps (or reads, like `stream_options`). */
const MAPPED = [
  'model',
  'messages',
  'max_completion_tokens',
  'max_tokens',
  'temperature',
  'top_p',
  'stop',
  'stream',
  'stream_options',
  'user',
  'safety_identifier',
  'tools',
  'tool_choice',
  'parallel_tool_calls',
  'reasoning_effort',
  'response_format',
  'n',
];

/** Hints or features of OpenAI's own platform with no Messages equivalent: dropped without an error. */
const IGNORED = ['seed', 'store', 'metadata', 'service_tier', 'prompt_cache_key', 'verbosity'];

/**
 * Fields the table refuses, each with the values that ask for nothing (so clients that send their defaults still
 * pass; `null` always does) and what the client should know.
 */
const REFUSED: Readonly<Record<string, { harmless: (value: unknown) => boolean; why: string }>> = {
  logprobs: { harmless: (v) => v === false, why: 'Claude returns no log probabilities' },
  top_logprobs: { harmless: () => false, why: 'Claude returns no log probabilities' },
  logit_bias: { harmless: (v) => isObject(v) && Object.keys(v).length === 0, why: 'Claude takes no token biases' },
  presence_penalty: { harmless: (v) => v === 0, why: 'Claude has no presence penalty' },
  frequency_penalty: { harmless: (v) => v === 0, why: 'Claude has no frequency penalty' },
  audio: { harmless: () => false, why: 'Claude answers in text' },
  modalities: {
    harmless: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text',
    why: 'Claude answers in text; send ["text"] or leave it out',
  },
  prediction: { harmless: () => false, why: 'Claude takes no predicted output' },
  web_search_options: { harmless: () => false, why: 'web search is not offered on this route' },
  functions: { harmless: () => false, why: 'send tools instead' },
  function_call: { harmless: () => false, why: 'send tool_choice instead' },
};

const KNOWN = new Set([...MAPPED, ...IGNORED, ...Object.keys(REFUSED)]);

function refuseUnknownAndUnsupported(body: JsonObject): void {
  for (const [field, value] of Object.entries(body)) {
    if (!KNOWN.has(field)) {
      const name = field.length > 64 ? `${field.slice(0, 64)}…` : field;
      refuse(
        field,
        'unsupported_parameter',
        `${JSON.stringify(name)}: unknown parameter; this gateway refuses fields it would have to drop`,
      );
    }
    const refused = REFUSED[field];
    if (refused !== undefined && !isAbsent(value) && !refused.harmless(value)) {
      refuse(field, 'unsupported_parameter', `${field}: not supported (${refused.why})`);
    }
  }
  if (!isAbsent(body.n) && body.n !== 1) {
    if (typeof body.n !== 'number') wrongType('n', 'a number', body.n);
    refuse('n', 'invalid_value', 'n: only 1 choice per request is supported (Claude returns one)');
  }
}

function modelOf(value: unknown, aliases: ModelAliases): string {
  const model = stringAt(required(value, 'model'), 'model');
  if (model === '') refuse('model', 'missing_required_parameter', 'model: required');
  return aliases.get(model) ?? model;
}

function numberAt(value: unknown, param: string): number | undefined {
  if (isAbsent(value)) return undefined;
  return typeof value === 'number' && Number.isFinite(value) ? value : wrongType(param, 'a number', value);
}

function booleanAt(value: unknown, param: string): boolean | undefined {
  if (isAbsent(value)) return undefined;
  return typeof value === 'boolean' ? value : wrongType(param, 'a boolean', value);
}

function positiveIntegerAt(value: unknown, param: string): number | undefined {
  const n = numberAt(value, param);
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 1))
    refuse(param, 'invalid_value', `${param}: must be a positive integer`);
  return n;
}

/** The client's reply cap and the field it came in, for refusals that name it. */
function clientMaxTokens(body: JsonObject): { value: number; param: string } | undefined {
  const completion = positiveIntegerAt(body.max_completion_tokens, 'max_completion_tokens');
  const legacy = positiveIntegerAt(body.max_tokens, 'max_tokens');
  if (completion !== undefined && legacy !== undefined && completion !== legacy) {
    refuse(
      'max_tokens',
      'invalid_value',
      'max_tokens: differs from max_completion_tokens; send one of them, or both equal',
    );
  }
  if (completion !== undefined) return { value: completion, param: 'max_completion_tokens' };
  return legacy === undefined ? undefined : { value: legacy, param: 'max_tokens' };
}

function thinkingBudgetOf(value: unknown): number | undefined {
  if (isAbsent(value)) return undefined;
  const effort = stringAt(value, 'reasoning_effort');
  if (effort === 'none') return undefined;
  const budget = THINKING_BUDGETS[effort];
  if (budget === undefined)
    refuse(
      'reasoning_effort',
      'invalid_value',
      'reasoning_effort: must be "none", "minimal", "low", "medium", "high" or "xhigh"',
    );
  return budget;
}

/** `max_tokens` and `thinking`: Anthropic counts the thinking budget inside `max_tokens`, so the two are decided together. */
function tokenFields(body: JsonObject): JsonObject {
  const client = clientMaxTokens(body);
  const budget = thinkingBudgetOf(body.reasoning_effort);
  if (budget === undefined) return { max_tokens: client?.value ?? DEFAULT_MAX_TOKENS };
  if (client === undefined)
    return { max_tokens: DEFAULT_MAX_TOKENS + budget, thinking: { type: 'enabled', budget_tokens: budget } };
  const clipped = Math.min(budget, client.value - 1);
  if (clipped < MIN_THINKING_BUDGET) {
    refuse(
      client.param,
      'invalid_value',
      `${client.param}: must be at least ${MIN_THINKING_BUDGET + 1} with reasoning_effort (Claude's thinking budget is at least ${MIN_THINKING_BUDGET} tokens and below max_tokens)`,
    );
  }
  return { max_tokens: client.value, thinking: { type: 'enabled', budget_tokens: clipped } };
}

function stopSequences(value: unknown): string[] | undefined {
  if (isAbsent(value)) return undefined;
  if (typeof value === 'string') return [value];
  return arrayAt(value, 'stop').map((s, i) => stringAt(s, `stop[${i}]`));
}

function samplingFields(body: JsonObject): JsonObject {
  const temperature = numberAt(body.temperature, 'temperature');
  // Claude's range ends at 1; scaling OpenAI's 0–2 would change what the client asked for.
  if (temperature !== undefined && (temperature < 0 || temperature > 1)) {
    refuse('temperature', 'invalid_value', "temperature: must be between 0 and 1 (Claude's range ends at 1)");
  }
  const topP = numberAt(body.top_p, 'top_p');
  const stop = stopSequences(body.stop);
  return {
    ...(temperature === undefined ? {} : { temperature }),
    // top_p 1 cuts nothing (both APIs' default); many clients send it beside a temperature, which recent Claude
    // models refuse as a pair.
    ...(topP === undefined || topP === 1 ? {} : { top_p: topP }),
    ...(stop === undefined ? {} : { stop_sequences: stop }),
  };
}

function metadataField(body: JsonObject): JsonObject {
  const user = isAbsent(body.user) ? undefined : stringAt(body.user, 'user');
  const safety = isAbsent(body.safety_identifier) ? undefined : stringAt(body.safety_identifier, 'safety_identifier');
  const userId = safety ?? user;
  return userId === undefined ? {} : { metadata: { user_id: userId } };
}

function tool(raw: unknown, at: string): Block {
  const entry = objectAt(raw, at);
  if (stringAt(required(entry.type, `${at}.type`), `${at}.type`) !== 'function') {
    refuse(`${at}.type`, 'invalid_value', `${at}.type: only "function" tools are supported`);
  }
  const fn = objectAt(required(entry.function, `${at}.function`), `${at}.function`);
  const name = stringAt(required(fn.name, `${at}.function.name`), `${at}.function.name`);
  const description = isAbsent(fn.description) ? undefined : stringAt(fn.description, `${at}.function.description`);
  const schema = isAbsent(fn.parameters)
    ? { type: 'object', properties: {} }
    : objectAt(fn.parameters, `${at}.function.parameters`);
  // `strict` has no Messages equivalent on a tool: dropped.
  return { name, ...(description === undefined ? {} : { description }), input_schema: schema };
}

function toolChoiceOf(value: unknown): Block | undefined {
  if (isAbsent(value)) return undefined;
  if (value === 'auto' || value === 'none') return { type: value };
  if (value === 'required') return { type: 'any' };
  if (isObject(value) && value.type === 'function') {
    const fn = objectAt(required(value.function, 'tool_choice.function'), 'tool_choice.function');
    return {
      type: 'tool',
      name: stringAt(required(fn.name, 'tool_choice.function.name'), 'tool_choice.function.name'),
    };
  }
  return refuse(
    'tool_choice',
    'invalid_value',
    'tool_choice: must be "auto", "none", "required" or {"type":"function","function":{"name":…}}',
  );
}

function toolFields(body: JsonObject): JsonObject {
  const tools = isAbsent(body.tools) ? [] : arrayAt(body.tools, 'tools').map((t, i) => tool(t, `tools[${i}]`));
  const choice = toolChoiceOf(body.tool_choice);
  const serial = booleanAt(body.parallel_tool_calls, 'parallel_tool_calls') === false;
  // Without tools Anthropic refuses a tool_choice, and there is nothing to call in parallel.
  if (tools.length === 0) return {};
  if (!serial || choice?.type === 'none') return { tools, ...(choice === undefined ? {} : { tool_choice: choice }) };
  return { tools, tool_choice: { ...(choice ?? { type: 'auto' }), disable_parallel_tool_use: true } };
}

function outputConfigField(value: unknown): JsonObject {
  if (isAbsent(value)) return {};
  const format = objectAt(value, 'response_format');
  const type = stringAt(required(format.type, 'response_format.type'), 'response_format.type');
  if (type === 'text') return {};
  if (type === 'json_object') {
    refuse(
      'response_format',
      'invalid_value',
      'response_format: "json_object" is not supported (Claude has no schema-less JSON mode); send "json_schema" with a schema',
    );
  }
  if (type !== 'json_schema')
    refuse('response_format.type', 'invalid_value', 'response_format.type: must be "text" or "json_schema"');
  const spec = objectAt(required(format.json_schema, 'response_format.json_schema'), 'response_format.json_schema');
  const schema = objectAt(
    required(spec.schema, 'response_format.json_schema.schema'),
    'response_format.json_schema.schema',
  );
  // `name`, `description` and `strict` have no place in Anthropic's structured outputs: dropped.
  return { output_config: { format: { type: 'json_schema', schema } } };
}

/** The client's stream flags: `stream_options` only matters on a stream. */
function streamFlags(body: JsonObject): { stream: boolean; includeUsage: boolean } {
  const stream = booleanAt(body.stream, 'stream') === true;
  const options = isAbsent(body.stream_options) ? {} : objectAt(body.stream_options, 'stream_options');
  const includeUsage = booleanAt(options.include_usage, 'stream_options.include_usage') === true;
  return { stream, includeUsage: stream && includeUsage };
}

/**
 * A parsed Chat Completions body as the Messages request a node forwards, with the stream flags the response
 * translation needs. Throws `invalid_json` when the body is not an object, a ChatFieldError for any field refused.
 */
export function translateChatRequest(body: unknown, options: ChatRequestOptions): TranslatedChatRequest {
  if (!isObject(body)) throw new AppError('invalid_json', 'Request body must be a JSON object');
  refuseUnknownAndUnsupported(body);
  const model = modelOf(body.model, options.aliases);
  const { system, messages } = translateMessages(body.messages);
  const { stream, includeUsage } = streamFlags(body);
  const tokens = tokenFields(body);
  const out: JsonObject = {
    model,
    max_tokens: tokens.max_tokens,
    ...(system.length === 0 ? {} : { system }),
    messages,
    ...toolFields(body),
    ...samplingFields(body),
    ...(stream ? { stream: true } : {}),
    ...metadataField(body),
    ...(tokens.thinking === undefined ? {} : { thinking: tokens.thinking }),
    ...outputConfigField(body.response_format),
  };
  return { body: out, stream, includeUsage };
}
