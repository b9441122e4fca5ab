// How the admin API answers failures: the Anthropic envelope, plus field errors for bad bodies.
import type { NextFunction, Request, Response } from 'express';
import { AppError, errorEnvelope, newRequestId, toAppError, writeErrorResponse, type Logger } from '@switchyard/shared';
import type { z } from 'zod';

/** One problem with a request body: where (dotted path, '(body)' for the whole) and what. */
export interface FieldError {
  path: string;
  message: string;
}

/** A 400 whose message lists the field errors, also carried as `details`. */
export class BodyValidationError extends AppError {
  constructor(readonly details: FieldError[]) {
    super('bad_request', `Invalid request body: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`);
  }
}

/**
 * A 409: what the request would create exists already (enrolling a node id twice). The shared error codes have
 * no conflict, so the admin router answers this one itself, in the same envelope.
 */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
  readonly status = 409;
}

/** The request id the gateway's request context gave this request (a fresh one when mounted without it). */
export function requestIdOf(res: Response): string {
  const locals = res.locals as { requestId?: unknown };
  if (typeof locals.requestId !== 'string') locals.requestId = newRequestId();
  return locals.requestId as string;
}

/** Validates a parsed JSON body, or throws a BodyValidationError listing every problem. */
export function parseBody<S extends z.ZodType>(schema: S, body: unknown): z.output<S> {
  if (body === undefined) {
    throw new BodyValidationError([
      { path: '(body)', message: 'expected a JSON object (content-type: application/json)' },
    ]);
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  throw new BodyValidationError(
    parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message })),
  );
}

// express.json signals client mistakes with `status` and `type` on plain errors.
function bodyParserError(err: unknown): AppError | undefined {
  if (typeof err !== 'object' || err === null || !('type' in err) || !('status' in err)) return undefined;
  const { status, type } = err;
  if (type === 'entity.parse.failed') return new AppError('invalid_json', 'Malformed JSON body');
  if (status === 413) return new AppError('body_too_large', 'Request body is too large');
  if (typeof status === 'number' && status >= 400 && status < 500)
    return new AppError('bad_request', 'Unreadable request body');
  return undefined;
}

/** The admin router's error handler: every failure becomes an envelope here, never reaching the app's handler. */
export function adminErrorHandler(log: Logger) {
  return function handleAdminError(err: unknown, req: Request, res: Response, _next: NextFunction): void {
    const requestId = requestIdOf(res);
    if (err instanceof BodyValidationError && !res.headersSent) {
      const envelope = errorEnvelope(err.anthropicType, err.message, requestId);
      res
        .status(err.status)
        .setHeader('request-id', requestId)
        .json({ ...envelope, error: { ...envelope.error, details: err.details } });
      return;
    }
    if (err instanceof ConflictError && !res.headersSent) {
      res
        .status(err.status)
        .setHeader('request-id', requestId)
        .json(errorEnvelope('invalid_request_error', err.message, requestId));
      return;
    }
    const appErr = bodyParserError(err) ?? toAppError(err);
    if (appErr.code === 'internal')
      log.error('admin request failed', { requestId, method: req.method, path: req.path, err });
    writeErrorResponse(res, appErr, requestId);
  };
}
