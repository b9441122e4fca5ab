import { AppError } from '@switchyard/shared';
import { jsonShapeProblem, type ShapeProblem } from './json-shape.js';

/** The fields the gateway reads from a request body; the bytes themselves are forwarded untouched. */
export interface ParsedBody {
  model: string | undefined;
  stream: boolean;
  /** true when the request asks for thinking (`enabled` or `adaptive`). */
  thinking: boolean;
  /** The prompt's parts as sent (tools, system, messages), for stickiness and the usage digest. */
  tools?: unknown;
  system?: unknown;
  messages?: unknown;
  metadata?: unknown;
}

function shapeError(problem: ShapeProblem): AppError {
  if (problem.kind === 'too_deep') return new AppError('invalid_json', `Request body nests objects and arrays deeper than ${problem.maxDepth} levels`);
  if (problem.kind === 'too_many_containers') return new AppError('invalid_json', `Request body holds more than ${problem.maxContainers} objects and arrays`);
  const key = problem.key.length > 64 ? `${problem.key.slice(0, 64)}…` : problem.key;
  return new AppError('invalid_json', `Request body repeats the top-level key ${JSON.stringify(key)}; send each key once`);
}

/**
 * Parses a JSON body once. A body nested deeper than MAX_JSON_DEPTH, holding more than MAX_JSON_CONTAINERS
 * objects and arrays or repeating a top-level key is refused before the parse; anything but a JSON object after
 * it. Each is a 400 `invalid_request_error`; the original bytes are what goes upstream, never a
 * re-serialisation of this parse.
 */
export function parseBody(body: Buffer): ParsedBody {
  const problem = jsonShapeProblem(body);
  if (problem !== undefined) throw shapeError(problem);
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new AppError('invalid_json', 'Request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new AppError('invalid_json', 'Request body must be a JSON object');
  const o = value as Record<string, unknown>;
  const thinking = o.thinking as { type?: unknown } | undefined;
  return {
    model: typeof o.model === 'string' ? o.model : undefined,
    stream: o.stream === true,
    thinking: typeof thinking === 'object' && thinking !== null && (thinking.type === 'enabled' || thinking.type === 'adaptive'),
    tools: o.tools,
    system: o.system,
    messages: o.messages,
    metadata: o.metadata,
  };
}
