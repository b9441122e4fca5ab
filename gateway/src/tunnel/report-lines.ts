// The state stream's framing: NodeReport JSON, one per line.
import { NodeReportSchema, type NodeReport } from '@switchyard/shared';

/** A line longer than this is not a report: the node is misbehaving. */
export const MAX_REPORT_LINE_BYTES = 64 * 1024;

/** What one line of the state stream held. */
export type ReportLine = { ok: true; report: NodeReport } | { ok: false; problem: string };

/** Parses one line; never throws. */
export function parseReportLine(line: string): ReportLine {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  const parsed = NodeReportSchema.safeParse(json);
  if (!parsed.success)
    return {
      ok: false,
      problem: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '),
    };
  return { ok: true, report: parsed.data };
}

/**
 * Splits a byte stream into lines (LF or CRLF, blank lines skipped). `onLine` gets each whole line;
 * `onOverflow` once when a line grows past MAX_REPORT_LINE_BYTES (the rest is then ignored).
 * @example
 * const feed = lineSplitter((l) => handle(parseReportLine(l)), () => session.destroy());
 * stream.on('data', feed);
 */
export function lineSplitter(onLine: (line: string) => void, onOverflow: () => void): (chunk: Buffer) => void {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  let overflowed = false;
  return function feed(chunk) {
    if (overflowed) return;
    let start = 0;
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      const piece = chunk.subarray(start, nl);
      const bytes = pendingBytes === 0 ? piece : Buffer.concat([...pending, piece]);
      pending = [];
      pendingBytes = 0;
      start = nl + 1;
      if (bytes.length > MAX_REPORT_LINE_BYTES) {
        overflowed = true;
        onOverflow();
        return;
      }
      const line = bytes.toString('utf8').replace(/\r$/, '');
      if (line.trim() !== '') onLine(line);
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    pendingBytes += rest.length;
    if (pendingBytes > MAX_REPORT_LINE_BYTES) {
      overflowed = true;
      pending = [];
      onOverflow();
      return;
    }
    pending.push(rest);
  };
}
