// A Logger that keeps every line in memory, for tests that assert what a component logs (and what it never does).
import type { Logger } from '@switchyard/shared';

/** One line as logged: its level, its constant message, its fields. */
export interface LogLine {
  level: string;
  message: string;
  meta: Record<string, unknown>;
}

/**
 * A logger appending to `lines`; its children log to the same list.
 * @example
 * const lines: LogLine[] = []; const log = recordingLog(lines); … expect(lines.map((l) => l.message)).toContain('request');
 */
export function recordingLog(lines: LogLine[]): Logger {
  const at =
    (level: string) =>
    (message: string, meta: Record<string, unknown> = {}): void =>
      void lines.push({ level, message, meta });
  const log: Logger = { error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug'), child: () => log };
  return log;
}
