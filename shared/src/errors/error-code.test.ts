import { readFileSync } from 'node:fs';
import { errorCode } from './error-code.js';

function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('did not throw');
}

describe('errorCode', () => {
  const enoent = thrownBy(() => readFileSync('/nonexistent/switchyard-error-code-test'));

  it("reads a Node error's errno code", () => {
    expect(errorCode(enoent)).toBe('ENOENT');
  });

  it('is undefined for errors without a string code and for things that are not errors', () => {
    const aborted = AbortSignal.abort().reason as unknown; // a DOMException: its code is a number
    for (const err of [new Error('plain'), aborted, 'ECONNRESET', null, undefined, 42, { code: 7 }]) {
      expect(errorCode(err)).toBeUndefined();
    }
  });

  it('looks along the cause chain only when asked, nearest code first', () => {
    // How fetch() fails: a TypeError whose cause is the socket's error.
    const fetchFailed = new TypeError('fetch failed', { cause: enoent });
    expect(errorCode(fetchFailed)).toBeUndefined();
    expect(errorCode(fetchFailed, { throughCauses: true })).toBe('ENOENT');
    const coded = Object.assign(new Error('outer'), { code: 'EOUTER', cause: enoent });
    expect(errorCode(coded, { throughCauses: true })).toBe('EOUTER');
  });

  it('gives up on a cause chain that loops or runs deep', () => {
    const loop = new Error('a');
    loop.cause = new Error('b', { cause: loop });
    expect(errorCode(loop, { throughCauses: true })).toBeUndefined();
    let deep: unknown = enoent;
    for (let i = 0; i < 10; i++) deep = new Error(`wrapper ${i}`, { cause: deep });
    expect(errorCode(deep, { throughCauses: true })).toBeUndefined();
  });
});
