// Chat Completions `messages` → Messages `system` + `messages`, as the "Messages" list of docs/OPENAI.md says, and
// the field checks the request translation shares (chat-request.ts). Every refusal is a ChatFieldError naming the
// field in OpenAI's path style (`messages[2].content[0].image_url.url`) and never quotes the prompt back.
import { ChatFieldError, type ChatFieldProblem } from './types.js';

export type JsonObject = Record<string, unknown>;

/** A Messages content block (text, image, tool_use, tool_result). */
export type Block = JsonObject;

export interface MessagesTurn {
  role: 'user' | 'assistant';
  content: string | Block[];
}

export interface TranslatedMessages {
  /** The system and developer messages' text, in order (empty when there were none). */
  system: Block[];
  messages: MessagesTurn[];
}

export function refuse(param: string, problem: ChatFieldProblem, message: string): never {
  throw new ChatFieldError(param, problem, message);
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Absent and `null` ask for nothing alike: OpenAI's schema makes every optional field nullable. */
export function isAbsent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

export function wrongType(param: string, expected: string, value: unknown): never {
  refuse(param, 'invalid_type', `${param}: expected ${expected}, got ${kindOf(value)}`);
}

export function required(value: unknown, param: string): unknown {
  if (isAbsent(value)) refuse(param, 'missing_required_parameter', `${param}: required`);
  return value;
}

export function objectAt(value: unknown, param: string): JsonObject {
  return isObject(value) ? value : wrongType(param, 'an object', value);
}

export function arrayAt(value: unknown, param: string): unknown[] {
  return Array.isArray(value) ? value : wrongType(param, 'an array', value);
}

export function stringAt(value: unknown, param: string): string {
  return typeof value === 'string' ? value : wrongType(param, 'a string', value);
}

/** A required string field of `parent` (its path `at`). */
function requiredString(parent: JsonObject, key: string, at: string): string {
  const param = `${at}.${key}`;
  return stringAt(required(parent[key], param), param);
}

function textBlock(text: string): Block {
  return { type: 'text', text };
}

/**
 * A part's `cache_control` (the extension OpenRouter and LiteLLM accept for Claude) on its block: the client's own
 * prompt-cache breakpoint, since the translation sets none of its own (docs/OPENAI.md, "Prompt caching").
 */
function cached(block: Block, part: JsonObject, at: string): Block {
  if (isAbsent(part.cache_control)) return block;
  const param = `${at}.cache_control`;
  const control = objectAt(part.cache_control, param);
  if (control.type !== 'ephemeral') refuse(`${param}.type`, 'invalid_value', `${param}.type: must be "ephemeral"`);
  if (!isAbsent(control.ttl) && control.ttl !== '5m' && control.ttl !== '1h')
    refuse(`${param}.ttl`, 'invalid_value', `${param}.ttl: must be "5m" or "1h"`);
  block.cache_control = isAbsent(control.ttl) ? { type: 'ephemeral' } : { type: 'ephemeral', ttl: control.ttl };
  return block;
}

/** A part's `type`, checked to be a string. */
function partType(part: unknown, at: string): { part: JsonObject; type: string } {
  const p = objectAt(part, at);
  return { part: p, type: requiredString(p, 'type', at) };
}

/** Content where only text parts are allowed (system, developer and tool messages): a string is one part. */
function textParts(content: unknown, at: string, where: string): Block[] {
  if (typeof content === 'string') return [textBlock(content)];
  return arrayAt(content, at).map((raw, j) => {
    const { part, type } = partType(raw, `${at}[${j}]`);
    if (type !== 'text')
      refuse(
        `${at}[${j}].type`,
        'invalid_value',
        `${at}[${j}].type: only "text" parts are allowed in ${where} messages`,
      );
    return cached(textBlock(requiredString(part, 'text', `${at}[${j}]`)), part, `${at}[${j}]`);
  });
}

/**
 * `image_url.url` as an image source: a base64 data URL or an https URL. Read by position, not by a regex, since
 * a data URL can be megabytes long.
 */
function imageSource(url: string, param: string): Block {
  const lower = url.slice(0, 8).toLowerCase();
  if (lower.startsWith('https://')) return { type: 'url', url };
  if (lower.startsWith('data:')) {
    const comma = url.indexOf(',');
    const header = comma < 0 ? '' : url.slice('data:'.length, comma);
    const mediaType = header.split(';')[0] ?? '';
    if (header.toLowerCase().endsWith(';base64') && mediaType !== '')
      return { type: 'base64', media_type: mediaType, data: url.slice(comma + 1) };
  }
  refuse(
    param,
    'invalid_value',
    `${param}: must be an https: URL or a base64 data URL (data:<media type>;base64,<data>)`,
  );
}

function userPart(raw: unknown, at: string): Block {
  const { part, type } = partType(raw, at);
  if (type === 'text') return cached(textBlock(requiredString(part, 'text', at)), part, at);
  if (type === 'image_url') {
    // `detail` has no Messages equivalent: Claude sizes images itself.
    const image = objectAt(required(part.image_url, `${at}.image_url`), `${at}.image_url`);
    return cached(
      { type: 'image', source: imageSource(requiredString(image, 'url', `${at}.image_url`), `${at}.image_url.url`) },
      part,
      at,
    );
  }
  refuse(
    `${at}.type`,
    'invalid_value',
    `${at}.type: user messages take "text" and "image_url" parts only (no audio or files)`,
  );
}

function userContent(message: JsonObject, at: string): string | Block[] {
  const content = required(message.content, `${at}.content`);
  if (typeof content === 'string') return content;
  return arrayAt(content, `${at}.content`).map((part, j) => userPart(part, `${at}.content[${j}]`));
}

/** The assistant's text as blocks: empty text is dropped, and so are `refusal` parts (no Messages equivalent). */
function assistantText(content: unknown, at: string): Block[] {
  if (isAbsent(content)) return [];
  if (typeof content === 'string') return content === '' ? [] : [textBlock(content)];
  const blocks: Block[] = [];
  arrayAt(content, at).forEach((raw, j) => {
    const { part, type } = partType(raw, `${at}[${j}]`);
    if (type === 'refusal') return;
    if (type !== 'text')
      refuse(
        `${at}[${j}].type`,
        'invalid_value',
        `${at}[${j}].type: assistant messages take "text" and "refusal" parts only`,
      );
    const text = requiredString(part, 'text', `${at}[${j}]`);
    if (text !== '') blocks.push(cached(textBlock(text), part, `${at}[${j}]`));
  });
  return blocks;
}

/** `function.arguments` as a tool_use `input`: a JSON object, or `{}` for the empty string some clients send. */
function toolInput(args: string, param: string): JsonObject {
  if (args === '') return {};
  let input: unknown;
  try {
    input = JSON.parse(args);
  } catch {
    refuse(param, 'invalid_value', `${param}: is not valid JSON; send the tool call's arguments as a JSON object`);
  }
  return isObject(input)
    ? input
    : refuse(param, 'invalid_value', `${param}: must be a JSON object, got ${kindOf(input)}`);
}

function toolUse(raw: unknown, at: string): Block {
  const call = objectAt(raw, at);
  if (!isAbsent(call.type) && call.type !== 'function') {
    refuse(`${at}.type`, 'invalid_value', `${at}.type: only "function" tool calls are supported`);
  }
  const id = requiredString(call, 'id', at);
  const fn = objectAt(required(call.function, `${at}.function`), `${at}.function`);
  const name = requiredString(fn, 'name', `${at}.function`);
  const input = toolInput(requiredString(fn, 'arguments', `${at}.function`), `${at}.function.arguments`);
  return { type: 'tool_use', id, name, input };
}

function assistantContent(message: JsonObject, at: string): string | Block[] {
  const calls = isAbsent(message.tool_calls)
    ? []
    : arrayAt(message.tool_calls, `${at}.tool_calls`).map((call, j) => toolUse(call, `${at}.tool_calls[${j}]`));
  if (calls.length === 0 && typeof message.content === 'string' && message.content !== '') return message.content;
  const blocks = [...assistantText(message.content, `${at}.content`), ...calls];
  if (blocks.length === 0)
    refuse(
      `${at}.content`,
      'missing_required_parameter',
      `${at}: an assistant message needs text content or tool_calls`,
    );
  return blocks;
}

function toolResult(message: JsonObject, at: string): Block {
  const toolUseId = requiredString(message, 'tool_call_id', at);
  const content = required(message.content, `${at}.content`);
  return {
    type: 'tool_result',
    tool_use_id: toolUseId,
    content: typeof content === 'string' ? content : textParts(content, `${at}.content`, 'tool'),
  };
}

function asBlocks(content: string | Block[]): Block[] {
  return typeof content === 'string' ? [textBlock(content)] : content;
}

/** Appends one by one: a spread of a long array into push() overflows the stack. */
function append(target: Block[], blocks: readonly Block[]): void {
  for (const block of blocks) target.push(block);
}

/**
 * Anthropic wants alternating roles: a run of one role becomes one turn, its contents concatenated in order. The
 * run's blocks grow in place (a copy per merge would make a run of n messages cost n²: 30,000 tool results in a
 * 1.5 MB body held the event loop for half a minute).
 */
function mergeRuns(turns: MessagesTurn[]): MessagesTurn[] {
  const merged: MessagesTurn[] = [];
  let run: Block[] | undefined;
  for (const turn of turns) {
    const last = merged.at(-1);
    if (last?.role !== turn.role) {
      merged.push(turn);
      run = undefined;
      continue;
    }
    if (run === undefined) {
      run = [...asBlocks(last.content)];
      merged[merged.length - 1] = { role: turn.role, content: run };
    }
    append(run, asBlocks(turn.content));
  }
  return merged;
}

/** One message: its text for `system`, or its turn. */
function translateMessage(raw: unknown, at: string): { system: Block[] } | { turn: MessagesTurn } {
  const message = objectAt(raw, at);
  const role = requiredString(message, 'role', at);
  switch (role) {
    case 'system':
    case 'developer':
      return { system: textParts(required(message.content, `${at}.content`), `${at}.content`, role) };
    case 'user':
      return { turn: { role: 'user', content: userContent(message, at) } };
    case 'assistant':
      return { turn: { role: 'assistant', content: assistantContent(message, at) } };
    case 'tool':
      return { turn: { role: 'user', content: [toolResult(message, at)] } };
    case 'function':
      return refuse(
        `${at}.role`,
        'invalid_value',
        `${at}.role: the legacy "function" role is not supported; send tool results as "tool" messages`,
      );
    default:
      return refuse(
        `${at}.role`,
        'invalid_value',
        `${at}.role: must be "system", "developer", "user", "assistant" or "tool"`,
      );
  }
}

/** The request's `messages` as the Messages API's `system` and alternating `messages`. */
export function translateMessages(value: unknown): TranslatedMessages {
  const list = arrayAt(required(value, 'messages'), 'messages');
  if (list.length === 0) refuse('messages', 'invalid_value', 'messages: send at least one message');
  const system: Block[] = [];
  const turns: MessagesTurn[] = [];
  list.forEach((raw, i) => {
    const translated = translateMessage(raw, `messages[${i}]`);
    if ('system' in translated) append(system, translated.system);
    else turns.push(translated.turn);
  });
  return { system, messages: mergeRuns(turns) };
}
