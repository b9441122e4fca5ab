// The node's state as the gateways see it: one NodeReport JSON line per line on every state stream a
// gateway opens, at once, on every change and at least every REPORT_INTERVAL_MS.
import type { ServerHttp2Stream } from 'node:http2';
import { NodeReportSchema, REPORT_INTERVAL_MS, type Logger, type NodeReport } from '@switchyard/shared';

/** The state streams of every tunnel. */
export interface StateReports {
  /** Answers a gateway's state stream (200, newline-delimited JSON) and writes the current report at once. */
  attach(stream: ServerHttp2Stream): void;
  /** Writes a fresh report on every stream now (the account state changed, the node drains). */
  notify(): void;
  /** Ends every stream and stops the periodic reports (shutdown). Streams attached later are answered 503. */
  stop(): void;
  /** Streams open now. */
  readonly attached: number;
}

export interface StateReportsDeps {
  /** The report, built fresh for every line. */
  report: () => NodeReport;
  log: Logger;
  /** Default REPORT_INTERVAL_MS. */
  intervalMs?: number;
}

// A gateway that stops reading its state stream is dead or stuck; its PINGs decide. Lines beyond this are dropped, not queued.
const MAX_UNREAD_BYTES = 64 * 1024;

/**
 * Creates the reporter; its timer runs only while a stream is attached.
 * @example
 * const reports = createStateReports({ report: () => buildReport(), log });
 * account.onChange(() => reports.notify());
 */
export function createStateReports(deps: StateReportsDeps): StateReports {
  return new StateReporter(deps);
}

/**
 * The {@link StateReports} of this node. `attach` and `notify` are arrow properties: they are handed over as they are
 * (to the tunnel as its state-stream handler, to change listeners).
 */
export class StateReporter implements StateReports {
  readonly #deps: StateReportsDeps;
  readonly #intervalMs: number;
  readonly #streams = new Set<ServerHttp2Stream>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(deps: StateReportsDeps) {
    this.#deps = deps;
    this.#intervalMs = deps.intervalMs ?? REPORT_INTERVAL_MS;
  }

  get attached(): number {
    return this.#streams.size;
  }

  readonly attach = (stream: ServerHttp2Stream): void => {
    if (this.#stopped) {
      stream.respond({ ':status': 503 }, { endStream: true });
      return;
    }
    stream.on('error', () => undefined);
    stream.once('close', () => this.#detach(stream));
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
    this.#streams.add(stream);
    // What the gateway sends on this stream means nothing; read it so flow control never stalls.
    stream.resume();
    const bytes = this.#line();
    if (bytes) write(stream, bytes);
    this.#timer ??= setInterval(this.notify, this.#intervalMs).unref();
  };

  readonly notify = (): void => {
    if (this.#streams.size === 0) return;
    const bytes = this.#line();
    if (bytes) for (const stream of this.#streams) write(stream, bytes);
  };

  stop(): void {
    this.#stopped = true;
    for (const stream of [...this.#streams]) {
      this.#detach(stream);
      if (!stream.destroyed) stream.end();
    }
  }

  /** The current report as one line, or undefined (logged) when it would not pass the gateway's schema. */
  #line(): Buffer | undefined {
    const parsed = NodeReportSchema.safeParse(this.#deps.report());
    if (parsed.success) return Buffer.from(`${JSON.stringify(parsed.data)}\n`);
    // A report the gateway would refuse is a bug here; say so rather than send it.
    this.#deps.log.error('state report invalid', {
      issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    });
    return undefined;
  }

  #detach(stream: ServerHttp2Stream): void {
    this.#streams.delete(stream);
    if (this.#streams.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}

function write(stream: ServerHttp2Stream, bytes: Buffer): void {
  if (stream.destroyed || stream.writableEnded || stream.writableLength > MAX_UNREAD_BYTES) return;
  stream.write(bytes);
}
