import { lastFrameEnd } from './relay-body.js';

const b = (s: string): Buffer => Buffer.from(s);

describe('lastFrameEnd', () => {
  it('is the whole chunk when it ends a frame', () => {
    expect(lastFrameEnd(b('event: a\ndata: 1\n\n'))).toBe(18);
    expect(lastFrameEnd(b('event: a\r\ndata: 1\r\n\r\n'))).toBe(21);
  });

  it('stops after the last complete frame of a chunk that ends mid-frame', () => {
    const chunk = b('event: a\ndata: 1\n\nevent: b\ndata: {"x');
    expect(chunk.subarray(0, lastFrameEnd(chunk)).toString()).toBe('event: a\ndata: 1\n\n');
  });

  it('is 0 when no frame ends in the chunk', () => {
    expect(lastFrameEnd(b('data: {"partial'))).toBe(0);
    expect(lastFrameEnd(b('\n'))).toBe(0);
    expect(lastFrameEnd(b(''))).toBe(0);
  });
});
