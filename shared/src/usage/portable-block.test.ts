import { UsageJobSchema } from '../queues/catalog.js';
import { canonicalJsonWithDepth } from './canonical-json.js';
import {
  blockHash,
  countableText,
  isStandIn,
  promptBlocks,
  STAND_IN_BLOCK_TYPE,
  type ContentBlock,
} from './content-blocks.js';
import { blockIdentity, MAX_PORTABLE_BLOCK_DEPTH, nestsDeeperThan, portableContent } from './portable-block.js';

/** A tool_use block whose own nesting (the block is level 1) is exactly `depth`. */
function toolUseOfDepth(depth: number): ContentBlock {
  let input: unknown = 'leaf';
  for (let i = 0; i < depth - 1; i++) input = { k: input };
  return { type: 'tool_use', id: 'toolu_1', name: 'Deep', input };
}

/** What BullMQ and the spool do to a job: JSON out, JSON back, then the worker's schema. */
function roundTrip(block: ContentBlock): ContentBlock {
  const job = {
    requestId: 'req_1',
    at: 0,
    keyId: 'k',
    nodeId: null,
    model: 'm',
    stream: false,
    status: 200,
    durationMs: 1,
    ttfbMs: null,
    aborted: false,
    brokeMidStream: false,
    usage: null,
    stopReason: null,
    endedCleanly: true,
    output: null,
    prompt: { hashes: [], blocks: [{ hash: 'a'.repeat(64), block }] },
  };
  return UsageJobSchema.parse(JSON.parse(JSON.stringify(job))).prompt?.blocks[0]?.block as ContentBlock;
}

describe('blockIdentity', () => {
  it('is the block and its blockHash for a block that travels as it is, up to the depth bound included', () => {
    for (const block of [{ type: 'text', text: 'hi' }, toolUseOfDepth(MAX_PORTABLE_BLOCK_DEPTH)]) {
      expect(canonicalJsonWithDepth(block).depth).toBeLessThanOrEqual(MAX_PORTABLE_BLOCK_DEPTH);
      expect(blockIdentity(block)).toEqual({ block, hash: blockHash(block), standIn: false });
      expect(roundTrip(block)).toEqual(block);
    }
  });

  it('is a stand-in holding the countable text for a block nested past the bound (20,000 deep too), and the stand-in travels', () => {
    for (const depth of [MAX_PORTABLE_BLOCK_DEPTH + 1, 20_000]) {
      const block = toolUseOfDepth(depth);
      const id = blockIdentity(block);
      expect(id.standIn).toBe(true);
      expect(id.block).toEqual({ type: STAND_IN_BLOCK_TYPE, text: countableText(block) });
      expect(isStandIn(id.block)).toBe(true);
      expect(id.hash).toBe(blockHash(id.block));
      expect(roundTrip(id.block)).toEqual(id.block);
    }
  });

  it('is a stand-in for a block with an own __proto__ key, which the job schema would drop (and the hash check then refuse)', () => {
    const [block] = promptBlocks({
      messages: JSON.parse(
        '[{"role":"user","content":[{"type":"text","text":"hi","__proto__":{"x":1}}]}]',
      ) as unknown[],
    });
    expect(Object.keys(roundTrip(block!))).toEqual(['type', 'text']);
    const id = blockIdentity(block!);
    expect(id.block).toEqual({ type: STAND_IN_BLOCK_TYPE, text: 'hi' });
    expect(roundTrip(id.block)).toEqual(id.block);
  });

  it('gives an answer block the identity of the same block sent back as history, stand-in or not', () => {
    for (const block of [toolUseOfDepth(3), toolUseOfDepth(MAX_PORTABLE_BLOCK_DEPTH + 10)]) {
      // The gateway ships a JSON answer's content portable; the worker normalises it as prompt blocks.
      const [fromAnswer] = promptBlocks({ messages: [{ role: 'assistant', content: portableContent([block]) }] });
      const [fromHistory] = promptBlocks({
        messages: [{ role: 'assistant', content: [{ ...block, cache_control: { type: 'ephemeral' } }] }],
      });
      expect(blockIdentity(fromAnswer!).hash).toBe(blockIdentity(fromHistory!).hash);
    }
  });
});

describe('portableContent', () => {
  it('returns a content array that nests within the bound unchanged, without copying it', () => {
    const content = [{ type: 'text', text: 'a' }, toolUseOfDepth(MAX_PORTABLE_BLOCK_DEPTH), 'plain'];
    expect(portableContent(content)).toBe(content);
  });

  it('replaces the blocks nested past the bound by their stand-ins and arrays by null, so JSON.stringify takes it', () => {
    const deep = toolUseOfDepth(20_000);
    const content = [{ type: 'text', text: 'a' }, deep, [[['x']]], 7, 'plain'];
    expect(() => JSON.stringify(content)).toThrow(RangeError);
    const portable = portableContent(content);
    expect(portable).toEqual([
      { type: 'text', text: 'a' },
      { type: STAND_IN_BLOCK_TYPE, text: countableText(deep) },
      null,
      7,
      'plain',
    ]);
    expect(() => JSON.stringify(portable)).not.toThrow();
  });
});

describe('nestsDeeperThan', () => {
  it('compares the deepest branch with the bound, at any depth', () => {
    expect(nestsDeeperThan('x', 0)).toBe(false);
    expect(nestsDeeperThan([], 0)).toBe(true);
    expect(nestsDeeperThan({ a: [1, { b: 2 }] }, 3)).toBe(false);
    expect(nestsDeeperThan({ a: [1, { b: {} }] }, 3)).toBe(true);
    expect(nestsDeeperThan(toolUseOfDepth(20_000), 19_999)).toBe(true);
    expect(nestsDeeperThan(toolUseOfDepth(20_000), 20_000)).toBe(false);
  });
});
