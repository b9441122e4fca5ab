import { createSseParser } from './sse-parser.js';
import type { SseEvent, SseParserOptions } from './sse-parser.js';
import { seededRandom } from '@switchyard/testkit';

// Every awkward corner of the format in one stream: BOM, comments, CRLF, lone CR, multi-byte UTF-8
// (2, 3 and 4 bytes), a value without the optional space, a field without a colon, an event without
// data, ids that persist, an id with NUL, and retry/unknown fields.
const MIXED =
  '\uFEFF' +
  ': comment at the start\n' +
  'event: message_start\r\n' +
  'data: {"text":"héllo ✓ 🎉"}\r\n' +
  '\r\n' +
  'data:first\rdata:  second\r' +
  '\r' +
  'id: 7\n' +
  'event: ping\n' +
  'retry: 1000\n' +
  'unknown: x\n' +
  'data\n' +
  '\n' +
  'event: no_data\n' +
  '\n' +
  'event\n' +
  'data: after an empty event name\n' +
  '\n' +
  'id: bad\0id\n' +
  'data: x\n' +
  '\r\n' +
  'id\n' +
  'data: y\n' +
  '\n' +
  ':trailing comment\n';

const MIXED_EVENTS: SseEvent[] = [
  { event: 'message_start', data: '{"text":"héllo ✓ 🎉"}' },
  { event: 'message', data: 'first\n second' },
  { event: 'ping', data: '', id: '7' },
  { event: 'message', data: 'after an empty event name', id: '7' },
  { event: 'message', data: 'x', id: '7' },
  { event: 'message', data: 'y' },
];

const MIXED_BYTES = Buffer.from(MIXED, 'utf8');

interface Run {
  events: SseEvent[];
  pending: boolean;
  dropped: number;
}

function run(chunks: ReadonlyArray<Buffer | Uint8Array | string>, options?: SseParserOptions): Run {
  const events: SseEvent[] = [];
  const parser = createSseParser((e) => events.push(e), options);
  for (const chunk of chunks) parser.push(chunk);
  parser.end();
  return { events, pending: parser.pending(), dropped: parser.droppedEvents() };
}

function splitAt(bytes: Buffer, offsets: number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let start = 0;
  for (const offset of offsets) {
    chunks.push(bytes.subarray(start, offset));
    start = offset;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

describe('createSseParser', () => {
  it('parses every corner of the format in one piece', () => {
    const result = run([MIXED_BYTES]);
    expect(result.events).toEqual(MIXED_EVENTS);
    expect(result.pending).toBe(false);
  });

  it('yields the same events whichever byte the stream is split at', () => {
    for (let i = 0; i <= MIXED_BYTES.length; i++) {
      expect({ offset: i, ...run(splitAt(MIXED_BYTES, [i])) }).toEqual({
        offset: i,
        events: MIXED_EVENTS,
        pending: false,
        dropped: 0,
      });
    }
  });

  it('yields the same events for every pair of split points', () => {
    const n = MIXED_BYTES.length;
    for (let i = 0; i <= n; i++) {
      for (let j = i; j <= n; j++) {
        const { events } = run(splitAt(MIXED_BYTES, [i, j]));
        if (JSON.stringify(events) !== JSON.stringify(MIXED_EVENTS))
          throw new Error(`split at ${i} and ${j} gave ${JSON.stringify(events)}`);
      }
    }
  });

  it('yields the same events fed one byte at a time and in random chunkings', () => {
    const single = [...MIXED_BYTES].map((b) => Uint8Array.of(b));
    expect(run(single).events).toEqual(MIXED_EVENTS);
    for (let seed = 1; seed <= 200; seed++) {
      const random = seededRandom(seed);
      const offsets: number[] = [];
      for (let at = 0; at < MIXED_BYTES.length; at += 1 + Math.floor(random() * 12)) offsets.push(at);
      expect({ seed, events: run(splitAt(MIXED_BYTES, offsets)).events }).toEqual({ seed, events: MIXED_EVENTS });
    }
  });

  it('accepts string chunks split at any code unit, even inside a surrogate pair', () => {
    for (let i = 0; i <= MIXED.length; i++) {
      expect(run([MIXED.slice(0, i), MIXED.slice(i)]).events).toEqual(MIXED_EVENTS);
    }
  });

  it('treats a CR ending one chunk and a LF opening the next as one line break', () => {
    // Two breaks would make a blank line and split the event in two.
    expect(run(['data: a\r', '\ndata: b\r', '\n\r', '\n']).events).toEqual([{ event: 'message', data: 'a\nb' }]);
    // Empty chunks, and bytes that decode to nothing yet, do not forget the pending CR.
    const euro = Buffer.from('€', 'utf8');
    const chunks = [
      Buffer.from('data: a\r'),
      Buffer.alloc(0),
      Buffer.from('\ndata: '),
      euro.subarray(0, 1),
      euro.subarray(1),
      Buffer.from('\r'),
      Buffer.from('\n\n'),
    ];
    expect(run(chunks).events).toEqual([{ event: 'message', data: 'a\n€' }]);
  });

  it('treats a lone CR, LF and CRLF alike', () => {
    const body = ['event: e', 'data: 1', 'data: 2', '', ''];
    const expected = [{ event: 'e', data: '1\n2' }];
    expect(run([body.join('\n')]).events).toEqual(expected);
    expect(run([body.join('\r')]).events).toEqual(expected);
    expect(run([body.join('\r\n')]).events).toEqual(expected);
  });

  it('skips one leading BOM only', () => {
    expect(run(['\uFEFFdata: a\n\n']).events).toEqual([{ event: 'message', data: 'a' }]);
    // A second BOM is part of the first line's field name, so that line is an unknown field.
    expect(run(['\uFEFF\uFEFFdata: a\n\ndata: b\n\n']).events).toEqual([{ event: 'message', data: 'b' }]);
    // A BOM split across chunks is still the leading BOM.
    const bytes = Buffer.from('\uFEFFdata: a\n\n', 'utf8');
    expect(run([bytes.subarray(0, 1), bytes.subarray(1, 2), bytes.subarray(2)]).events).toEqual([
      { event: 'message', data: 'a' },
    ]);
  });

  it('ignores comments, even between the lines of one event', () => {
    expect(run([':ping\n\ndata: a\n: keep-alive\ndata: b\n\n']).events).toEqual([{ event: 'message', data: 'a\nb' }]);
  });

  it('never dispatches a half-received event, and says so through pending()', () => {
    const cut = run(['event: message_delta\ndata: {"usage":']);
    expect(cut).toEqual({ events: [], pending: true, dropped: 0 });
    const noBlankLine = run(['data: a\n\ndata: b\n']);
    expect(noBlankLine.events).toEqual([{ event: 'message', data: 'a' }]);
    expect(noBlankLine.pending).toBe(true);
    const truncatedCharacter = run([Buffer.from('data: a\n\n'), Buffer.from('€').subarray(0, 2)]);
    expect(truncatedCharacter.pending).toBe(true);
    expect(run(['data: a\n\n: bye\n']).pending).toBe(false);
    expect(run(['data: a\r\n\r']).pending).toBe(false);
  });

  it('reports pending() during the stream too, and ignores pushes after end()', () => {
    const events: SseEvent[] = [];
    const parser = createSseParser((e) => events.push(e));
    expect(parser.pending()).toBe(false);
    parser.push('data: a');
    expect(parser.pending()).toBe(true);
    parser.push('\n\n');
    expect(parser.pending()).toBe(false);
    parser.end();
    parser.push('data: late\n\n');
    parser.end();
    expect(events).toEqual([{ event: 'message', data: 'a' }]);
  });

  it('drops an event longer than maxEventLength and recovers at the next one', () => {
    const huge = 'x'.repeat(1_000);
    const chunks = ['data: small\n\n', 'event: big\ndata: '];
    for (let i = 0; i < 50; i++) chunks.push(huge); // one 50 000-character line arriving in pieces
    chunks.push('\ndata: more\n\n', 'data: tail\n\n');
    const result = run(chunks, { maxEventLength: 10_000 });
    expect(result.events).toEqual([
      { event: 'message', data: 'small' },
      { event: 'message', data: 'tail' },
    ]);
    expect(result.dropped).toBe(1);
    // The same stream fits under a higher limit.
    expect(run(chunks, { maxEventLength: 100_000 }).events).toHaveLength(3);
  });

  it('counts many data lines towards maxEventLength', () => {
    const lines = Array.from({ length: 100 }, () => 'data: 0123456789\n').join('');
    const result = run([lines, '\n', 'data: ok\n\n'], { maxEventLength: 500 });
    expect(result.events).toEqual([{ event: 'message', data: 'ok' }]);
    expect(result.dropped).toBe(1);
  });

  it('stays consistent when the listener throws', () => {
    const events: SseEvent[] = [];
    const parser = createSseParser((e) => {
      if (e.data === 'boom') throw new Error('listener failed');
      events.push(e);
    });
    expect(() => parser.push('event: a\ndata: boom\n\n')).toThrow('listener failed');
    parser.push('data: next\n\n');
    expect(events).toEqual([{ event: 'message', data: 'next' }]);
  });

  it('keeps a long line arriving in small chunks linear, not quadratic', () => {
    // Rescanning the carried line on every chunk would cost ~8e9 character visits here.
    const piece = Buffer.from('y'.repeat(1_024));
    let data = '';
    const parser = createSseParser((e) => (data = e.data));
    const started = process.hrtime.bigint();
    parser.push('data: ');
    for (let i = 0; i < 4_096; i++) parser.push(piece); // one 4 MiB line
    parser.push('\n\n');
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(data.length).toBe(4 * 1024 * 1024);
    expect(ms).toBeLessThan(2_000); // tens of ms when linear
  });
});
