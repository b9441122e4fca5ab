import type { ServerResponse } from 'node:http';
import { errorEnvelope } from './anthropic-error.js';
import { toAppError, type AppError } from './app-error.js';

/** An error's JSON body in a client's format (Anthropic's by default; the OpenAI route has its own). */
export type ErrorBody = (err: AppError, requestId: string) => string;

function anthropicErrorBody(err: AppError, requestId: string): string {
  return JSON.stringify(errorEnvelope(err.anthropicType, err.message, requestId));
}

/**
 * Answers a request with the Anthropic error envelope (or `envelope`'s) and a `request-id` header (plus `retry-after`
 * when the error carries one). Works on any node ServerResponse, so Express and raw servers share it.
 * Internal errors never leak their cause's text to the client.
 */
export function writeErrorResponse(
  res: ServerResponse,
  err: unknown,
  requestId: string,
  envelope: ErrorBody = anthropicErrorBody,
): void {
  const appErr = toAppError(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = envelope(appErr, requestId);
  res.statusCode = appErr.status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('request-id', requestId);
  if (appErr.retryAfterSec !== undefined)
    res.setHeader('retry-after', String(Math.max(0, Math.ceil(appErr.retryAfterSec))));
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
