import { AppError } from '@switchyard/shared';
import { jsonShapeProblem, type ShapeProblem } from './json-shape.js';

/** The fields the gateway reads from a request body; the bytes themselves are forwarded untouched. */
export interface ParsedBody {
  model: string | undefined;
  stream: boolean;
  /** true when the request asks for thinking (`enabled` or `adaptive`). */
  thinking: boolean;
  /** `max_tokens` when it is a positive integer (anything else Anthropic refuses with 400). */
  maxTokens?: number;
  /** The prompt's parts as sent (tools, system, messages), for stickiness and the usage digest. */
  tools?: unknown;
  system?: unknown;
  messages?: unknown;
  metadata?: unknown;
}

/** A prompt-cache write's tier, as priced: none, 5 minutes, 1 hour. */
export type CacheWrite = 'none' | '5m' | '1h';

const CACHE_CONTROL = Buffer.from('"cache_control"');
const ONE_HOUR = Buffer.from('"1h"');
const UNICODE_ESCAPE = Buffer.from('\\u');

function anyCacheControl(value: unknown, depth = 0): CacheWrite {
  if (typeof value !== 'object' || value === null || depth > 200) return 'none';
  let found: CacheWrite = 'none';
  const visit = (v: unknown): void => {
    const tier = anyCacheControl(v, depth + 1);
    if (tier === '1h' || (tier === '5m' && found === 'none')) found = tier;
  };
  if (Array.isArray(value)) {
    for (const v of value) visit(v);
    return found;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k === 'cache_control') {
      const ttl = typeof v === 'object' && v !== null ? (v as { ttl?: unknown }).ttl : undefined;
      if (ttl === '1h') return '1h';
      found = found === 'none' ? '5m' : found;
    } else visit(v);
  }
  return found;
}

/**
 * The body's prompt-cache writes, for the budget reservation: a byte search for `"cache_control"` (and `"1h"`
 * anywhere beside it, which may over-reserve, never under). A body with `\u` escapes could spell the key so the
 * search misses it: only then is the parsed value walked.
 */
export function cacheWriteOf(body: Buffer, parsed: unknown): CacheWrite {
  if (body.includes(UNICODE_ESCAPE)) return anyCacheControl(parsed);
  if (!body.includes(CACHE_CONTROL)) return 'none';
  return body.includes(ONE_HOUR) ? '1h' : '5m';
}

function shapeError(problem: ShapeProblem): AppError {
  if (problem.kind === 'too_deep')
    return new AppError('invalid_json', `Request body nests objects and arrays deeper than ${problem.maxDepth} levels`);
  if (problem.kind === 'too_many_containers')
    return new AppError('invalid_json', `Request body holds more than ${problem.maxContainers} objects and arrays`);
  const key = problem.key.length > 64 ? `${problem.key.slice(0, 64)}…` : problem.key;
  return new AppError(
    'invalid_json',
    `Request body repeats the top-level key ${JSON.stringify(key)}; send each key once`,
  );
}

/**
 * Parses a JSON body once. A body nested deeper than MAX_JSON_DEPTH, holding more than MAX_JSON_CONTAINERS
 * objects and arrays or repeating a top-level key is refused before the parse; anything but a JSON object after
 * it. Each is a 400 `invalid_request_error`; the original bytes are what goes upstream, never a
 * re-serialisation of this parse.
 */
export function parseBody(body: Buffer): ParsedBody {
  return bodyFields(parseJsonObject(body));
}

/** A body's JSON object, with the shape checks of parseBody (a Chat Completions body is read with it too). */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  const problem = jsonShapeProblem(body);
  if (problem !== undefined) throw shapeError(problem);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AppError('invalid_json', 'Request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new AppError('invalid_json', 'Request body must be a JSON object');
  return value as Record<string, unknown>;
}

/** The fields the gateway reads from a Messages request body (parsed, or built by a translation). */
export function bodyFields(o: Record<string, unknown>): ParsedBody {
  const thinking = o.thinking as { type?: unknown } | undefined;
  return {
    model: typeof o.model === 'string' ? o.model : undefined,
    stream: o.stream === true,
    thinking:
      typeof thinking === 'object' &&
      thinking !== null &&
      (thinking.type === 'enabled' || thinking.type === 'adaptive'),
    ...(Number.isSafeInteger(o.max_tokens) && (o.max_tokens as number) > 0
      ? { maxTokens: o.max_tokens as number }
      : {}),
    tools: o.tools,
    system: o.system,
    messages: o.messages,
    metadata: o.metadata,
  };
}
