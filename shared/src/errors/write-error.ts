import type { ServerResponse } from 'node:http';
import { errorEnvelope } from './anthropic-error.js';
import { toAppError } from './app-error.js';

/**
 * Answers a request with the Anthropic error envelope and a `request-id` header (plus `retry-after`
 * when the error carries one). Works on any node ServerResponse, so Express and raw servers share it.
 * Internal errors never leak their cause's text to the client.
 */
export function writeErrorResponse(res: ServerResponse, err: unknown, requestId: string): void {
  const appErr = toAppError(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorEnvelope(appErr.anthropicType, appErr.message, requestId));
  res.statusCode = appErr.status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('request-id', requestId);
  if (appErr.retryAfterSec !== undefined) res.setHeader('retry-after', String(Math.max(0, Math.ceil(appErr.retryAfterSec))));
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}
