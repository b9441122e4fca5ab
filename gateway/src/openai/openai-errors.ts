// OpenAI's error envelope on `/v1/chat/completions`: the gateway's own errors and the node's (Anthropic's) ones,
// each mapped by the table in docs/OPENAI.md ("Errors"). The `openai` SDK picks its error class by HTTP status and
// reads `error.message`/`type`/`param`/`code`, so those four are always present (null where there is none).
import { STATUS_CODES } from 'node:http';
import { asRecord, type AppError } from '@switchyard/shared';
import { ChatFieldError } from './types.js';

/** The OpenAI `error.type`s this route answers with. */
export type OpenAiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error';

export interface OpenAiError {
  message: string;
  type: OpenAiErrorType;
  /** The request field at fault (a refused field), else null. */
  param: string | null;
  code: string | null;
}

/** The body of every error on `/v1/chat/completions`. */
export interface OpenAiErrorEnvelope {
  error: OpenAiError;
}

/** The OpenAI type for an HTTP status (the Errors table; other 4xx are the client's request, like 400). */
function openAiErrorTypeFor(status: number): OpenAiErrorType {
  if (status >= 500) return 'server_error';
  switch (status) {
    case 401:
      return 'authentication_error';
    case 403:
      return 'permission_error';
    case 404:
      return 'not_found_error';
    case 429:
      return 'rate_limit_error';
    default:
      return 'invalid_request_error';
  }
}

// A stream's `event: error` has no status of its own: its Anthropic type stands for the status Anthropic gives it.
const statusByAnthropicType: Readonly<Record<string, number>> = {
  invalid_request_error: 400,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  request_too_large: 413,
  rate_limit_error: 429,
  api_error: 500,
  timeout_error: 504,
  overloaded_error: 529,
};

/** The HTTP status Anthropic answers an error type with (500 for a type it does not name). */
export function statusForAnthropicType(type: string): number {
  return statusByAnthropicType[type] ?? 500;
}

/**
 * Anthropic's error as OpenAI's: the type from the status; the code is Anthropic's type, except that Anthropic's 404
 * `not_found_error` (on the Messages API: an unknown model) is `model_not_found`.
 */
export function openAiEnvelopeFromAnthropic(
  status: number,
  anthropicType: string,
  message: string,
): OpenAiErrorEnvelope {
  let code = anthropicType;
  if (status === 404 && anthropicType === 'not_found_error') code = 'model_not_found';
  return { error: { message, type: openAiErrorTypeFor(status), param: null, code } };
}

/** The gateway's own error (AppError) as OpenAI's envelope. */
export function openAiErrorEnvelope(err: AppError): OpenAiErrorEnvelope {
  if (err instanceof ChatFieldError) {
    return {
      error: { message: err.message, type: openAiErrorTypeFor(err.status), param: err.param, code: err.problem },
    };
  }
  // Only the gateway's own 401 is about the client's key; a node's 401 is the account's credential (its own code).
  const code = err.status === 401 ? 'invalid_api_key' : err.code;
  return { error: { message: err.message, type: openAiErrorTypeFor(err.status), param: null, code } };
}

// The node's answers are read by hand rather than through zod: this is the request path, and the shapes are few.

/** A JSON text as a plain object, or undefined (not JSON, or not an object). */
export function parseJsonRecord(text: string): Record<string, unknown> | undefined {
  try {
    return asRecord(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** The `error` of an Anthropic envelope (`{type:'error', error:{type, message}}`), or undefined for anything else. */
export function readAnthropicError(
  body: Record<string, unknown> | undefined,
): { type: string; message: string } | undefined {
  const error = asRecord(body?.error);
  const type = error?.type;
  const message = error?.message;
  return typeof type === 'string' && typeof message === 'string' ? { type, message } : undefined;
}

/**
 * A node's error answer (status >= 400) as OpenAI's envelope. A body that is not Anthropic's envelope (a proxy's
 * HTML page, a cut body) gets a generic message for the status: its text is never shown to the client.
 */
export function nodeErrorEnvelope(status: number, body: string): OpenAiErrorEnvelope {
  const error = readAnthropicError(parseJsonRecord(body));
  if (error) return openAiEnvelopeFromAnthropic(status, error.type, error.message);
  const reason = STATUS_CODES[status];
  const message = `The upstream answered HTTP ${status}${reason === undefined ? '' : ` ${reason}`}`;
  return { error: { message, type: openAiErrorTypeFor(status), param: null, code: null } };
}

/** A `server_error` envelope: what the client gets for a node answer the gateway cannot read. */
export function serverErrorEnvelope(message: string, code: string | null = null): OpenAiErrorEnvelope {
  return { error: { message, type: 'server_error', param: null, code } };
}

/**
 * A stream's terminal error event. OpenAI streams carry errors as a plain `data:` event holding the envelope (no
 * `event:` name); the `openai` SDK throws it as an `APIError`. Nothing may follow it, not even `[DONE]`.
 */
export function openAiStreamErrorFrame(envelope: OpenAiErrorEnvelope): string {
  return `data: ${JSON.stringify(envelope)}\n\n`;
}

/** The OpenAI envelope's JSON for the gateway's own error: shared's `writeErrorResponse` and `errorHandler` take it. */
export function openAiErrorBody(err: AppError): string {
  return JSON.stringify(openAiErrorEnvelope(err));
}
