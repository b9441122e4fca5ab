// What a block may look like to travel in a usage job. The job is serialised by BullMQ and by the spool
// (JSON.stringify, which overflows the call stack past ~4,000 levels of nesting, fewer when called deep
// in a stack) and parsed back by the worker with the job's schema (whose record parsing drops a
// top-level `__proto__` key). A block that would not come back as it left is replaced by its stand-in,
// on both sides alike, so its identity is the same whether the gateway digests it or the worker
// rebuilds it from an answer.
import { asRecord } from '../anthropic/narrow.js';
import { canonicalJsonWithDepth } from './canonical-json.js';
import { hashOfCanonicalJson, standInBlock, withoutCacheControl, type ContentBlock } from './content-blocks.js';

/**
 * The deepest nesting of objects and arrays (the block itself is level 1) a block may have to travel in
 * a job as it is. Twice what a request body may nest (the gateway's 128, counted from the body), and
 * far below where JSON.stringify gives up.
 */
export const MAX_PORTABLE_BLOCK_DEPTH = 256;

/** A block as a job carries it, and its key in the block-token table. */
export interface BlockIdentity {
  block: ContentBlock;
  hash: string;
  /** The block is a stand-in for one that could not travel: its estimate is approximate. */
  standIn: boolean;
}

/**
 * The block and its hash (that of its canonical JSON, as `blockHash`), from one walk; for a block nested
 * deeper than {@link MAX_PORTABLE_BLOCK_DEPTH} or with an own `__proto__` key, its stand-in and the
 * stand-in's hash instead.
 *
 * @example
 * const { block, hash } = blockIdentity({ type: 'text', text: 'hi' }); // the block itself, blockHash of it
 */
export function blockIdentity(block: ContentBlock): BlockIdentity {
  if (!Object.prototype.hasOwnProperty.call(block, '__proto__')) {
    const { text, depth } = canonicalJsonWithDepth(block);
    if (depth <= MAX_PORTABLE_BLOCK_DEPTH) return { block, hash: hashOfCanonicalJson(text), standIn: false };
  }
  const standIn = standInBlock(block);
  return { block: standIn, hash: hashOfCanonicalJson(canonicalJsonWithDepth(standIn).text), standIn: true };
}

/** Whether objects and arrays in `value` nest deeper than `max` levels (`value` itself is level 1). Any depth, no recursion. */
export function nestsDeeperThan(value: unknown, max: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  const stack: { value: object; depth: number }[] = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const top = stack.pop() as { value: object; depth: number };
    if (top.depth > max) return true;
    const children: unknown[] = Array.isArray(top.value) ? top.value : Object.values(top.value);
    for (const child of children) {
      if (child !== null && typeof child === 'object') stack.push({ value: child, depth: top.depth + 1 });
    }
  }
  return false;
}

function portableItem(item: unknown): unknown {
  const record = asRecord(item);
  // An array in a content array is no block: the worker skips it, so it travels as null.
  if (record === undefined) return Array.isArray(item) ? null : item;
  const block = withoutCacheControl(record);
  return blockIdentity(block).block;
}

/**
 * A JSON answer's `content` array as a job can carry it: unchanged when it nests no deeper than a block
 * may (one walk), else with each block that may not replaced by its stand-in (the worker normalises
 * blocks as prompt blocks, so the stand-in is the one the same block gets when the client sends it back).
 */
export function portableContent(content: readonly unknown[]): unknown[] {
  if (!nestsDeeperThan(content, MAX_PORTABLE_BLOCK_DEPTH + 1)) return content as unknown[];
  return content.map(portableItem);
}
