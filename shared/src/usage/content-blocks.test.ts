import { canonicalJson, canonicalJsonWithDepth } from './canonical-json.js';
import { blockHash, blocksFromStream, countableText, promptBlocks, STAND_IN_BLOCK_TYPE } from './content-blocks.js';

// What a client can send: JSON.parse builds these from a 40 KB body without complaint.
const DEEP = 20_000;
function nestedObjects(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = { a: value };
  return value;
}
function nestedArrays(depth: number, leaf: unknown): unknown {
  let value = leaf;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

describe('canonicalJson', () => {
  it('sorts keys at every depth and parses back to the same value', () => {
    const value = { b: 1, a: [true, { d: null, c: 'x"y' }], e: { z: 1.5, y: 'é' } };
    const text = canonicalJson(value);
    expect(text).toBe('{"a":[true,{"c":"x\\"y","d":null}],"b":1,"e":{"y":"é","z":1.5}}');
    expect(JSON.parse(text)).toEqual(value);
  });

  it('gives the same text for the same value written in another key order', () => {
    expect(canonicalJson({ type: 'text', text: 'hi', citations: [] })).toBe(
      canonicalJson({ citations: [], text: 'hi', type: 'text' }),
    );
  });

  it('leaves out undefined members like JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined] })).toBe('{"b":[null]}');
  });

  it('serialises values nested 20,000 deep (past where recursion and JSON.stringify overflow the stack)', () => {
    expect(() => JSON.stringify(nestedObjects(DEEP, 1))).toThrow(RangeError);
    expect(canonicalJson(nestedObjects(DEEP, 1))).toBe('{"a":'.repeat(DEEP) + '1' + '}'.repeat(DEEP));
    expect(canonicalJson(nestedArrays(DEEP, 'x'))).toBe('['.repeat(DEEP) + '"x"' + ']'.repeat(DEEP));
    expect(canonicalJsonWithDepth(nestedObjects(DEEP, [1, { b: [] }])).depth).toBe(DEEP + 3);
  });

  it('reports the nesting depth of what it serialised', () => {
    expect(canonicalJsonWithDepth('x')).toEqual({ text: '"x"', depth: 0 });
    expect(canonicalJsonWithDepth({})).toEqual({ text: '{}', depth: 1 });
    expect(canonicalJsonWithDepth({ b: [[1]], a: { c: {} } })).toEqual({ text: '{"a":{"c":{}},"b":[[1]]}', depth: 3 });
  });

  it('escapes lone surrogates in values and keys, so the text parses back to the same value', () => {
    const value = { '\uDC00key': ['\uD800', 'a\uDBFFb', '\uD83D\uDE00'] };
    const text = canonicalJson(value);
    expect(text).toBe('{"\\udc00key":["\\ud800","a\\udbffb","😀"]}');
    expect(JSON.parse(text)).toEqual(value);
  });
});

describe('promptBlocks', () => {
  it('lists tools, system, then message blocks, with strings as text blocks and cache_control dropped', () => {
    const blocks = promptBlocks({
      tools: [
        {
          name: 'Read',
          description: 'read a file',
          input_schema: { type: 'object' },
          cache_control: { type: 'ephemeral' },
        },
      ],
      system: [{ type: 'text', text: 'You are helpful.', cache_control: { type: 'ephemeral', ttl: '1h' } }],
      messages: [
        { role: 'user', content: 'hello' },
        { role: 'assistant', content: [{ type: 'text', text: 'hi there' }] },
      ],
    });
    expect(blocks).toEqual([
      { name: 'Read', description: 'read a file', input_schema: { type: 'object' } },
      { type: 'text', text: 'You are helpful.' },
      { type: 'text', text: 'hello' },
      { type: 'text', text: 'hi there' },
    ]);
  });

  it('treats a string system prompt as one text block and ignores what is not a block', () => {
    expect(
      promptBlocks({
        system: 'be brief',
        messages: [{ role: 'user', content: [42, null, { type: 'text', text: 'a' }] }],
      }),
    ).toEqual([
      { type: 'text', text: 'be brief' },
      { type: 'text', text: 'a' },
    ]);
    expect(promptBlocks({})).toEqual([]);
  });

  it('takes any JSON a client can send for tools, system and messages without throwing', () => {
    const hostile = [
      { messages: 'hello' },
      { messages: 42 },
      { messages: { role: 'user', content: 'x' } },
      { messages: nestedArrays(DEEP, { role: 'user', content: 'x' }) },
      {
        messages: [
          null,
          7,
          'str',
          [{ role: 'user', content: 'x' }],
          { role: 'user' },
          { content: nestedArrays(DEEP, 'x') },
        ],
      },
      { system: [1, null, true, nestedObjects(DEEP, 1), ['nested']], tools: 'all of them' },
      { tools: [null, 'Read', nestedArrays(DEEP, {})], system: nestedArrays(DEEP, 'x') },
    ];
    for (const parts of hostile) expect(() => promptBlocks(parts).map(blockHash)).not.toThrow();
    expect(promptBlocks(hostile[4]!)).toEqual([]);
    // Strings in a system array are text; what is neither a string nor an object is no block.
    expect(promptBlocks({ system: [1, null, 'be brief', [{ type: 'text', text: 'x' }]] })).toEqual([
      { type: 'text', text: 'be brief' },
    ]);
    expect(promptBlocks({ messages: Array.from({ length: 100_000 }, () => null) })).toEqual([]);
  });
});

describe('blockHash', () => {
  it('keeps a block identity when its cache breakpoint moves or its keys are reordered', () => {
    const plain = { type: 'text', text: 'history' };
    const [withBreakpoint] = promptBlocks({
      messages: [{ role: 'user', content: [{ text: 'history', cache_control: { type: 'ephemeral' }, type: 'text' }] }],
    });
    expect(blockHash(withBreakpoint!)).toBe(blockHash(plain));
    expect(blockHash(plain)).toMatch(/^[0-9a-f]{64}$/);
    expect(blockHash({ type: 'text', text: 'history!' })).not.toBe(blockHash(plain));
  });
});

describe('countableText', () => {
  it('takes the text the model reads from each kind of block', () => {
    expect(countableText({ type: 'text', text: 'a b' })).toBe('a b');
    expect(countableText({ type: 'thinking', thinking: 'hmm', signature: 'sig' })).toBe('hmm');
    expect(countableText({ type: 'tool_use', id: 't1', name: 'Read', input: { path: '/x', a: 1 } })).toBe(
      '{"a":1,"path":"/x"}',
    );
    expect(
      countableText({
        type: 'tool_result',
        tool_use_id: 't1',
        content: [
          { type: 'text', text: 'one' },
          { type: 'image', source: {} },
          { type: 'text', text: 'two' },
        ],
      }),
    ).toBe('one\ntwo');
    expect(countableText({ type: 'tool_result', tool_use_id: 't1', content: 'plain' })).toBe('plain');
    expect(countableText({ type: 'image', source: { type: 'base64', data: 'AAAA' } })).toBe('');
    expect(countableText({ name: 'Read', input_schema: { type: 'object' } })).toBe(
      '{"input_schema":{"type":"object"},"name":"Read"}',
    );
    expect(countableText({ type: STAND_IN_BLOCK_TYPE, text: 'as it was' })).toBe('as it was');
  });

  it('joins the text of tool results nested in tool results, in order, at any depth', () => {
    const inner = (text: string) => ({ type: 'tool_result', content: [{ type: 'text', text }] });
    expect(
      countableText({
        type: 'tool_result',
        content: [
          { type: 'text', text: 'a' },
          { type: 'tool_result', content: [inner('b'), { type: 'tool_result', content: 'c' }] },
          { type: 'text', text: 'd' },
        ],
      }),
    ).toBe('a\nb\nc\nd');
    let deep: unknown = [{ type: 'text', text: 'bottom' }];
    for (let i = 0; i < DEEP; i++)
      deep = [
        { type: 'text', text: `t${i % 3}` },
        { type: 'tool_result', content: deep },
      ];
    const text = countableText({ type: 'tool_result', content: deep });
    expect(text.split('\n')).toHaveLength(DEEP + 1);
    expect(text.endsWith('\nbottom')).toBe(true);
  });

  it('counts tool input of any shape and nesting as its canonical JSON', () => {
    for (const input of [null, 42, 'text', [1, [2]], true])
      expect(countableText({ type: 'tool_use', input })).toBe(input === null ? '{}' : JSON.stringify(input));
    expect(countableText({ type: 'tool_use', input: nestedObjects(DEEP, 'x') })).toHaveLength(DEEP * 6 + 3);
    expect(countableText({ type: 'tool_use', input: Array.from({ length: 100_000 }, (_, i) => i) })).toMatch(
      /^\[0,1,2,.*,99999\]$/,
    );
  });
});

describe('blocksFromStream', () => {
  const ev = (event: string, data: unknown) => ({ event, data: JSON.stringify(data) });

  it('rebuilds text, thinking and tool_use blocks so they hash like the same blocks sent back as history', () => {
    const events = [
      ev('content_block_start', {
        type: 'content_block_start',
        index: 0,
        content_block: { type: 'thinking', thinking: '', signature: '' },
      }),
      ev('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'thinking_delta', thinking: 'let me ' },
      }),
      ev('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'thinking_delta', thinking: 'think' },
      }),
      ev('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'signature_delta', signature: 'c2ln' },
      }),
      ev('content_block_start', { type: 'content_block_start', index: 1, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', {
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'text_delta', text: 'Hello' },
      }),
      ev('content_block_delta', {
        type: 'content_block_delta',
        index: 1,
        delta: { type: 'text_delta', text: ' world' },
      }),
      ev('content_block_start', {
        type: 'content_block_start',
        index: 2,
        content_block: { type: 'tool_use', id: 'toolu_1', name: 'Read', input: {} },
      }),
      ev('content_block_delta', {
        type: 'content_block_delta',
        index: 2,
        delta: { type: 'input_json_delta', partial_json: '{"path":' },
      }),
      ev('content_block_delta', {
        type: 'content_block_delta',
        index: 2,
        delta: { type: 'input_json_delta', partial_json: '"/x"}' },
      }),
      { event: 'content_block_delta', data: 'not json' },
    ];
    const blocks = blocksFromStream(events);
    expect(blocks).toEqual([
      { type: 'thinking', thinking: 'let me think', signature: 'c2ln' },
      { type: 'text', text: 'Hello world' },
      { type: 'tool_use', id: 'toolu_1', name: 'Read', input: { path: '/x' } },
    ]);
    // The same blocks as a client sends them back next turn (other key order, a cache breakpoint).
    const history = promptBlocks({
      messages: [
        {
          role: 'assistant',
          content: [
            { signature: 'c2ln', thinking: 'let me think', type: 'thinking' },
            { type: 'text', text: 'Hello world', cache_control: { type: 'ephemeral' } },
          ],
        },
      ],
    });
    expect(history.map(blockHash)).toEqual(blocks.slice(0, 2).map(blockHash));
  });

  it('keeps what arrived of a block cut off by an abort, and raw text for tool input that never became JSON', () => {
    const blocks = blocksFromStream([
      ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
      ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hal' } }),
      ev('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 't', name: 'X', input: {} } }),
      ev('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":' } }),
    ]);
    expect(blocks).toEqual([
      { type: 'text', text: 'Hal' },
      { type: 'tool_use', id: 't', name: 'X', input: '{"a":' },
    ]);
    expect(countableText(blocks[1]!)).toBe('"{\\"a\\":"');
  });

  it('orders blocks by index and ignores indexes that are no array index, however large', () => {
    const blocks = blocksFromStream([
      ev('content_block_start', { index: 4_294_967_294, content_block: { type: 'text', text: 'last' } }),
      ev('content_block_start', { index: 1.5, content_block: { type: 'text', text: 'half' } }),
      ev('content_block_start', { index: -1, content_block: { type: 'text', text: 'negative' } }),
      ev('content_block_start', { index: '0', content_block: { type: 'text', text: 'string' } }),
      ev('content_block_start', { index: 3, content_block: { type: 'text', text: 'first' } }),
      ev('content_block_delta', { index: 4_294_967_294, delta: { type: 'text_delta', text: '!' } }),
    ]);
    expect(blocks).toEqual([
      { type: 'text', text: 'first' },
      { type: 'text', text: 'last!' },
    ]);
  });
});
