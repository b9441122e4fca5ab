import type { Writable } from 'node:stream';
import winston from 'winston';
import { isSecretName, REDACTED, redactValue } from './redact.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'http' | 'debug';

/** The logging surface the apps use: constant messages, data in fields. */
export interface Logger {
  error(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
  /** A logger whose every line carries `fields` (e.g. the request id). */
  child(fields: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  /** The process name carried on every line, e.g. 'gateway'. */
  service: string;
  level?: LogLevel;
  /** 'json' for production, 'pretty' for a terminal. */
  format?: 'json' | 'pretty';
  /** Where lines go (stdout by default); tests pass a stream to capture them. */
  stream?: Writable;
}

// Winston keeps level and the finished line under Symbol keys; the redaction must carry them over.
const redactFormat = winston.format((info) => {
  const out = info as Record<string | symbol, unknown>;
  for (const key of Object.keys(info)) {
    if (key === 'level') continue;
    const v = out[key];
    out[key] = isSecretName(key) && v != null && v !== '' ? REDACTED : redactValue(v);
  }
  if (typeof info.message !== 'string') out.message = JSON.stringify(redactValue(info.message)) ?? '';
  return info;
});

function lineFormat(kind: 'json' | 'pretty'): winston.Logform.Format {
  const base = [redactFormat(), winston.format.timestamp()];
  if (kind === 'json') return winston.format.combine(...base, winston.format.json());
  return winston.format.combine(
    ...base,
    winston.format.colorize(),
    winston.format.printf(({ timestamp, level, message, service, ...rest }) => {
      const fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
      return `${String(timestamp)} ${String(service)} ${level}: ${String(message)}${fields}`;
    }),
  );
}

function wrap(w: winston.Logger): Logger {
  return {
    error: (message, meta) => w.error(message, meta),
    warn: (message, meta) => w.warn(message, meta),
    info: (message, meta) => w.info(message, meta),
    debug: (message, meta) => w.debug(message, meta),
    child: (fields) => wrap(w.child(fields)),
  };
}

/**
 * The only place a winston logger is made. Every line passes the redaction format first.
 *
 * @example
 * const log = createLogger({ service: 'gateway', format: 'json' });
 * log.child({ requestId }).info('request done', { status: 200 });
 */
export function createLogger(opts: LoggerOptions): Logger {
  const transport = opts.stream
    ? new winston.transports.Stream({ stream: opts.stream })
    : new winston.transports.Console({ stderrLevels: [] });
  const w = winston.createLogger({
    level: opts.level ?? 'info',
    format: lineFormat(opts.format ?? 'json'),
    defaultMeta: { service: opts.service },
    transports: [transport],
  });
  return wrap(w);
}

/** A logger that drops everything (for tests and tools that want silence). */
export function createNullLogger(): Logger {
  const nothing: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {}, child: () => nothing };
  return nothing;
}
