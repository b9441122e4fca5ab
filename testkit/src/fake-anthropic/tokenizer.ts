// The fake's deterministic tokenizer: ceil(utf8 bytes / 4) per text piece, and the prompt as cacheable blocks.

/** Tokens of one text piece. */
export function countTextTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 4);
}

/** One block of the prompt in cache order (tools, system, messages). */
export interface PromptSegment {
  /** Canonical text that identifies the block and its place; prefixes of these are hashed. */
  key: string;
  tokens: number;
  /** Set when the block carries cache_control. */
  cacheTtl?: '5m' | '1h';
}

/** The parts of a request that count as input. */
export interface PromptParts {
  tools?: unknown[];
  system?: string | unknown[];
  messages: { role: string; content: string | unknown[] }[];
}

type Block = Record<string, unknown>;

function isBlock(value: unknown): value is Block {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function ttlOf(block: Block): '5m' | '1h' | undefined {
  const control = block.cache_control;
  if (!isBlock(control) || control.type !== 'ephemeral') return undefined;
  return control.ttl === '1h' ? '1h' : '5m';
}

function blockSegment(place: string, value: unknown): PromptSegment {
  if (typeof value === 'string') return { key: `${place}:${value}`, tokens: countTextTokens(value) };
  if (!isBlock(value)) {
    const text = JSON.stringify(value) ?? '';
    return { key: `${place}:${text}`, tokens: countTextTokens(text) };
  }
  const { cache_control: _cacheControl, ...rest } = value;
  const json = JSON.stringify(rest);
  // A text block costs its text; any other block (tool_use, tool_result, image, a tool definition) its JSON.
  const piece = rest.type === 'text' && typeof rest.text === 'string' ? rest.text : json;
  const segment: PromptSegment = { key: `${place}:${json}`, tokens: countTextTokens(piece) };
  const ttl = ttlOf(value);
  if (ttl) segment.cacheTtl = ttl;
  return segment;
}

/** The prompt's blocks in the order the API caches them. */
export function promptSegments(parts: PromptParts): PromptSegment[] {
  const segments: PromptSegment[] = [];
  for (const tool of parts.tools ?? []) segments.push(blockSegment('tool', tool));
  const system = parts.system;
  if (typeof system === 'string') segments.push(blockSegment('system', system));
  else for (const block of system ?? []) segments.push(blockSegment('system', block));
  parts.messages.forEach((message, index) => {
    const place = `${index}:${message.role}`;
    if (typeof message.content === 'string') segments.push(blockSegment(place, message.content));
    else for (const block of message.content) segments.push(blockSegment(place, block));
  });
  return segments;
}

/** Input tokens of a prompt (system + tools + messages). */
export function countInputTokens(parts: PromptParts): number {
  return promptSegments(parts).reduce((sum, segment) => sum + segment.tokens, 0);
}
