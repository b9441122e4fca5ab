// The state stream a gateway opens on each tunnel: the node answers 200 and writes NodeReport lines.
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader } from 'node:http2';
import { STATE_STREAM_PATH, type NodeReport } from '@switchyard/shared';
import { lineSplitter, parseReportLine } from './report-lines.js';

export interface StateStreamHandlers {
  /** The node answered 200: reports follow. */
  onOpen(): void;
  /** A valid report. */
  onReport(report: NodeReport): void;
  /** A line that is not a report (once per stream; the line is skipped). */
  onMalformed(problem: string): void;
  /** The node broke the protocol (another status than 200, a line past the limit): the tunnel should end. */
  onViolation(reason: string): void;
  /** The stream is gone, for whatever reason. */
  onClose(): void;
}

/**
 * Opens `GET STATE_STREAM_PATH` with `headers` (the replica list) and parses what comes back.
 * @example
 * const stream = openStateStream(session, replicaHeaders, { onOpen, onReport, onMalformed, onViolation, onClose });
 */
export function openStateStream(
  session: ClientHttp2Session,
  headers: Readonly<Record<string, string>>,
  on: StateStreamHandlers,
): ClientHttp2Stream {
  const stream = session.request({ ':method': 'GET', ':path': STATE_STREAM_PATH, ...headers }, { endStream: true });
  stream.on('response', (h: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
    if (h[':status'] === 200) on.onOpen();
    else on.onViolation(`state stream answered ${String(h[':status'])}`);
  });
  let malformed = false;
  stream.on(
    'data',
    lineSplitter(
      (line) => {
        const parsed = parseReportLine(line);
        if (parsed.ok) return on.onReport(parsed.report);
        if (!malformed) on.onMalformed(parsed.problem);
        malformed = true;
      },
      () => on.onViolation('state report line too long'),
    ),
  );
  stream.on('error', () => undefined); // the session's end says why
  stream.once('close', () => on.onClose());
  return stream;
}
