import { anthropicErrorTypeFor, type AnthropicErrorType } from './anthropic-error.js';

/**
 * Every failure Switchyard itself answers with. The code names the case, the table below gives its
 * HTTP status, Anthropic error type and whether a client may retry.
 */
export const ErrorCodes = {
  bad_request: { status: 400, retryable: false },
  invalid_json: { status: 400, retryable: false },
  unauthenticated: { status: 401, retryable: false },
  forbidden: { status: 403, retryable: false },
  model_not_allowed: { status: 403, retryable: false },
  beta_not_allowed: { status: 403, retryable: false },
  not_found: { status: 404, retryable: false },
  body_too_large: { status: 413, retryable: false },
  rate_limited: { status: 429, retryable: true },
  budget_exhausted: { status: 429, retryable: true },
  internal: { status: 500, retryable: false },
  upstream_unreachable: { status: 502, retryable: true },
  unavailable: { status: 503, retryable: true },
  /** This gateway holds as many request bodies as it may (MAX_INFLIGHT_BODY_BYTES): answered as overloaded_error. */
  busy: { status: 503, retryable: true, type: 'overloaded_error' },
  upstream_timeout: { status: 504, retryable: true },
  overloaded: { status: 529, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean; type?: AnthropicErrorType }>;

export type ErrorCode = keyof typeof ErrorCodes;

export interface AppErrorOptions {
  cause?: unknown;
  /** Seconds the client should wait; becomes a `retry-after` header. */
  retryAfterSec?: number;
  /** Overrides the Anthropic error type derived from the status. */
  anthropicType?: AnthropicErrorType;
}

/** The one error class: a code with its HTTP status, Anthropic type, retryability and cause. */
export class AppError extends Error {
  override readonly name = 'AppError';
  readonly status: number;
  readonly retryable: boolean;
  readonly anthropicType: AnthropicErrorType;
  readonly retryAfterSec: number | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    opts: AppErrorOptions = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    const spec: { status: number; retryable: boolean; type?: AnthropicErrorType } = ErrorCodes[code];
    this.status = spec.status;
    this.retryable = spec.retryable;
    this.anthropicType = opts.anthropicType ?? spec.type ?? anthropicErrorTypeFor(spec.status);
    this.retryAfterSec = opts.retryAfterSec;
  }
}

/** Anything thrown becomes an AppError; an unknown error is an `internal` one that keeps the original as cause. */
export function toAppError(err: unknown): AppError {
  if (err instanceof AppError) return err;
  return new AppError('internal', 'Internal server error', { cause: err });
}
