import type { NextFunction, Request, Response } from 'express';
import { AppError, toAppError, writeErrorResponse, type ErrorBody, type Logger } from '@switchyard/shared';
import { localsOf } from './request-context.js';

/** Anything no route claimed: 404 in the Anthropic envelope. */
export function notFound() {
  return function notFoundHandler(req: Request, _res: Response, next: NextFunction): void {
    next(new AppError('not_found', `Not found: ${req.method} ${req.path}`));
  };
}

/**
 * The one error handler: AppErrors become their envelope (Anthropic's, or `envelope`'s on a route that speaks
 * another format); anything else is logged with its stack and answered with a 500 envelope that reveals nothing.
 */
export function errorHandler(log: Logger, envelope?: ErrorBody) {
  return function handleError(err: unknown, req: Request, res: Response, _next: NextFunction): void {
    const { requestId } = localsOf(res);
    const appErr = bodyParserError(err) ?? toAppError(err);
    if (appErr.code === 'internal') log.error('request failed', { requestId, method: req.method, path: req.path, err });
    writeErrorResponse(res, appErr, requestId, envelope);
  };
}

// Express and its parsers signal client mistakes with `status`/`type` fields on plain errors.
function bodyParserError(err: unknown): AppError | undefined {
  if (err instanceof AppError || typeof err !== 'object' || err === null || !('status' in err)) return undefined;
  const { status } = err;
  if (status === 413) return new AppError('body_too_large', 'Request body is too large');
  if (status === 400) return new AppError('bad_request', 'Malformed request');
  return undefined;
}
