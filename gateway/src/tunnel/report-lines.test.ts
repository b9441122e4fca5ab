import { initialAccountState } from '@switchyard/shared';
import { lineSplitter, MAX_REPORT_LINE_BYTES, parseReportLine } from './report-lines.js';

const report = {
  nodeId: 'node-a',
  accountKind: 'oauth',
  state: initialAccountState(1),
  inFlight: 0,
  version: '1',
  gitSha: 'abc',
  startedAt: 1,
  heartbeatAt: 2,
};

describe('lineSplitter', () => {
  it('gives whole lines across chunk boundaries, LF or CRLF, skipping blank ones', () => {
    const lines: string[] = [];
    const feed = lineSplitter(
      (l) => lines.push(l),
      () => lines.push('OVERFLOW'),
    );
    feed(Buffer.from('{"a":1}\n{"b"'));
    feed(Buffer.from(':2}\r\n\n'));
    feed(Buffer.from('{"c":"é'.slice(0, 6)));
    feed(Buffer.from('é"}\n'));
    expect(lines).toEqual(['{"a":1}', '{"b":2}', '{"c":"é"}']);
  });

  it('keeps a multi-byte character split across chunks whole', () => {
    const lines: string[] = [];
    const feed = lineSplitter(
      (l) => lines.push(l),
      () => undefined,
    );
    const bytes = Buffer.from('{"x":"✓"}\n');
    feed(bytes.subarray(0, 8));
    feed(bytes.subarray(8));
    expect(lines).toEqual(['{"x":"✓"}']);
  });

  it('gives up once on a line longer than the limit, whole or in pieces', () => {
    let overflows = 0;
    const lines: string[] = [];
    const feed = lineSplitter(
      (l) => lines.push(l),
      () => overflows++,
    );
    feed(Buffer.alloc(MAX_REPORT_LINE_BYTES, 0x61));
    feed(Buffer.from('aa'));
    feed(Buffer.from('\n{"late":1}\n'));
    expect(overflows).toBe(1);
    expect(lines).toEqual([]);

    const whole = lineSplitter(
      () => undefined,
      () => overflows++,
    );
    whole(Buffer.concat([Buffer.alloc(MAX_REPORT_LINE_BYTES + 1, 0x61), Buffer.from('\n')]));
    expect(overflows).toBe(2);
  });
});

describe('parseReportLine', () => {
  it('takes a NodeReport', () => {
    expect(parseReportLine(JSON.stringify(report))).toEqual({ ok: true, report });
  });

  it('says what is wrong with anything else, and never throws', () => {
    expect(parseReportLine('{nope')).toEqual({ ok: false, problem: 'not JSON' });
    const missing = parseReportLine(JSON.stringify({ ...report, inFlight: -1 }));
    expect(missing.ok).toBe(false);
    expect(missing.ok ? '' : missing.problem).toMatch(/inFlight/);
  });
});
