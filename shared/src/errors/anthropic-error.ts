import { randomBytes } from 'node:crypto';

/** The error `type`s clients see, as Anthropic's API names them. */
export type AnthropicErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'request_too_large'
  | 'rate_limit_error'
  | 'api_error'
  | 'overloaded_error'
  | 'timeout_error';

/** The body of every error a client sees on `/v1/*`. */
export interface AnthropicErrorEnvelope {
  type: 'error';
  error: { type: AnthropicErrorType; message: string };
  request_id?: string;
}

const typeByStatus: Readonly<Record<number, AnthropicErrorType>> = {
  400: 'invalid_request_error',
  401: 'authentication_error',
  403: 'permission_error',
  404: 'not_found_error',
  413: 'request_too_large',
  429: 'rate_limit_error',
  500: 'api_error',
  504: 'timeout_error',
  529: 'overloaded_error',
};

/** The Anthropic error type for an HTTP status (4xx without a name → invalid_request_error, 5xx → api_error). */
export function anthropicErrorTypeFor(status: number): AnthropicErrorType {
  return typeByStatus[status] ?? (status < 500 ? 'invalid_request_error' : 'api_error');
}

/** Builds the envelope `{"type":"error","error":{"type","message"},"request_id"}`. */
export function errorEnvelope(type: AnthropicErrorType, message: string, requestId?: string): AnthropicErrorEnvelope {
  const envelope: AnthropicErrorEnvelope = { type: 'error', error: { type, message } };
  if (requestId) envelope.request_id = requestId;
  return envelope;
}

/**
 * A terminal SSE frame for a stream that broke after its first byte: clients see an `event: error`
 * instead of a silent truncation.
 */
export function sseErrorFrame(type: AnthropicErrorType, message: string, requestId?: string): string {
  return `event: error\ndata: ${JSON.stringify(errorEnvelope(type, message, requestId))}\n\n`;
}

/** A request id in Anthropic's shape (`req_` + 24 url-safe characters). */
export function newRequestId(): string {
  return `req_${randomBytes(18).toString('base64url')}`;
}
