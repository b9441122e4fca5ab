// The units the usage worker counts: a request's prompt and a response's content as content blocks,
// each identified by the SHA-256 of its canonical JSON (docs/USAGE.md).
import { createHash } from 'node:crypto';
import { asRecord } from '../anthropic/narrow.js';
import { canonicalJson } from './canonical-json.js';

/** One countable unit: a content block, a system block or a tool definition, without `cache_control`. */
export type ContentBlock = Record<string, unknown>;

/** The parts of a `/v1/messages` body that are sent to the model as input. */
export interface PromptParts {
  tools?: unknown;
  system?: unknown;
  messages?: unknown;
}

/**
 * The block without `cache_control`: where a client puts its cache breakpoints changes from turn to
 * turn, and it is not text the model reads, so it must not change the block's identity.
 */
export function withoutCacheControl(value: Record<string, unknown>): ContentBlock {
  if (!('cache_control' in value)) return value;
  const { cache_control: _ignored, ...rest } = value;
  return rest;
}

/**
 * The type of a stand-in: the block a usage job carries in place of one that cannot travel in it as it
 * is (see `blockIdentity`). It holds the original's countable text, so its count is an estimate of the
 * original's, and the worker flags every request that uses it as approximate.
 */
export const STAND_IN_BLOCK_TYPE = 'switchyard_stand_in';

/** The stand-in of a block: its countable text under the stand-in type. */
export function standInBlock(block: ContentBlock): ContentBlock {
  return { type: STAND_IN_BLOCK_TYPE, text: countableText(block) };
}

export function isStandIn(block: ContentBlock): boolean {
  return block.type === STAND_IN_BLOCK_TYPE;
}

function textBlock(text: string): ContentBlock {
  return { type: 'text', text };
}

function pushBlocks(out: ContentBlock[], content: unknown): void {
  if (typeof content === 'string') {
    out.push(textBlock(content));
    return;
  }
  if (!Array.isArray(content)) return;
  for (const item of content) {
    if (typeof item === 'string') out.push(textBlock(item));
    else {
      const block = asRecord(item);
      if (block) out.push(withoutCacheControl(block));
    }
  }
}

/**
 * The prompt's blocks in the order the API reads them: tools, system, then each message's content.
 * A string system prompt or message content counts as one text block.
 */
export function promptBlocks(parts: PromptParts): ContentBlock[] {
  const out: ContentBlock[] = [];
  if (Array.isArray(parts.tools)) {
    for (const tool of parts.tools) {
      const record = asRecord(tool);
      if (record) out.push(withoutCacheControl(record));
    }
  }
  pushBlocks(out, parts.system);
  if (Array.isArray(parts.messages)) {
    for (const message of parts.messages) pushBlocks(out, asRecord(message)?.content);
  }
  return out;
}

/** The SHA-256 hex of the block's canonical JSON: its key in the block-token table. */
export function blockHash(block: ContentBlock): string {
  return hashOfCanonicalJson(canonicalJson(block));
}

/** The key in the block-token table of a block whose canonical JSON is `text` (the one hash every side uses). */
export function hashOfCanonicalJson(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/**
 * A tool result's text parts joined by newlines, a nested tool result's parts in their place. Walked with
 * its own stack: results nested in results 20,000 deep (a client can send that) do not recurse.
 */
function joinedText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  const parts: string[] = [];
  const stack: { items: readonly unknown[]; next: number }[] = [{ items: content, next: 0 }];
  while (stack.length > 0) {
    const top = stack[stack.length - 1] as { items: readonly unknown[]; next: number };
    if (top.next >= top.items.length) {
      stack.pop();
      continue;
    }
    const block = asRecord(top.items[top.next++]);
    if (block === undefined) continue;
    if (block.type !== 'tool_result') {
      const text = countableText(block);
      if (text !== '') parts.push(text);
    } else if (typeof block.content === 'string') {
      if (block.content !== '') parts.push(block.content);
    } else if (Array.isArray(block.content)) {
      stack.push({ items: block.content, next: 0 });
    }
  }
  return parts.join('\n');
}

/**
 * The text of a block that the tokeniser counts: a text block's text, a thinking block's thinking, a
 * tool call's input (canonical JSON), a tool result's text parts; a tool definition or an unknown
 * block its canonical JSON; a stand-in its text. Images, documents and redacted thinking count nothing:
 * their bytes are not text the tokeniser can estimate.
 */
export function countableText(block: ContentBlock): string {
  switch (block.type) {
    case 'text':
      return typeof block.text === 'string' ? block.text : '';
    case 'thinking':
      return typeof block.thinking === 'string' ? block.thinking : '';
    case 'tool_use':
    case 'server_tool_use':
      return canonicalJson(block.input ?? {});
    case 'tool_result':
      return joinedText(block.content);
    case 'image':
    case 'document':
    case 'redacted_thinking':
      return '';
    case STAND_IN_BLOCK_TYPE:
      return typeof block.text === 'string' ? block.text : '';
    default:
      return canonicalJson(block);
  }
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** One SSE event of a message stream, as the stream parser yields it. */
export interface StreamEventText {
  event: string;
  data: string;
}

/**
 * Rebuilds a streamed response's content blocks from its `content_block_start` and
 * `content_block_delta` events (text, thinking, signature and tool-input deltas). A block cut off by
 * an abort keeps what arrived; tool input that never became valid JSON is kept as its raw text.
 */
export function blocksFromStream(events: readonly StreamEventText[]): ContentBlock[] {
  // By index in a Map, not an array: an index of 4e9 must not make a sparse array that filter() walks.
  const blocks = new Map<number, ContentBlock>();
  const partialJson = new Map<number, string>();
  for (const { event, data } of events) {
    if (event !== 'content_block_start' && event !== 'content_block_delta') continue;
    let frame: Record<string, unknown> | undefined;
    try {
      frame = asRecord(JSON.parse(data));
    } catch {
      continue;
    }
    const index = frame?.index;
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) continue;
    if (event === 'content_block_start') {
      const start = asRecord(frame?.content_block);
      if (start) blocks.set(index, { ...start });
      continue;
    }
    const block = blocks.get(index);
    const delta = asRecord(frame?.delta);
    if (!block || !delta) continue;
    switch (delta.type) {
      case 'text_delta':
        block.text = str(block.text) + str(delta.text);
        break;
      case 'thinking_delta':
        block.thinking = str(block.thinking) + str(delta.thinking);
        break;
      case 'signature_delta':
        block.signature = str(block.signature) + str(delta.signature);
        break;
      case 'input_json_delta':
        partialJson.set(index, (partialJson.get(index) ?? '') + str(delta.partial_json));
        break;
      default:
      // citations and future delta types add nothing the tokeniser counts.
    }
  }
  for (const [index, json] of partialJson) {
    const block = blocks.get(index);
    if (!block) continue;
    try {
      block.input = JSON.parse(json) as unknown;
    } catch {
      block.input = json;
    }
  }
  return [...blocks.keys()].sort((a, b) => a - b).map((index) => blocks.get(index) as ContentBlock);
}
