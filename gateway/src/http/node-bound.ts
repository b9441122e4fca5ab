// What a node gets for a client request, and how its answer reaches the client: the client's own Messages bytes, a
// Chat Completions body as its Messages translation (docs/OPENAI.md), or a models listing both SDKs can read.
import type { Request } from 'express';
import { AppError } from '@switchyard/shared';
import { chatTranslation } from '../openai/chat-response.js';
import { translateChatRequest } from '../openai/chat-request.js';
import { modelsListTranslation } from '../openai/models-list.js';
import type { ModelAliases, ResponseTranslation } from '../openai/types.js';
import { bodyFields, parseJsonObject, type ParsedBody } from './parse-body.js';

/** What a node gets for a request, and how its answer reaches the client. */
export interface NodeBound {
  /** The Messages body: the client's bytes, or the translation's. */
  body: Buffer;
  parsed: ParsedBody;
  /** The path the node gets. */
  path: string;
  headers?: Record<string, string>;
  translation?: ResponseTranslation;
}

const EMPTY: Buffer = Buffer.alloc(0);
const NO_BODY: ParsedBody = { model: undefined, stream: false, thinking: false };
/** The version a translated request (or a models list asked without one) is sent with: the one the translation speaks. */
const ANTHROPIC_VERSION = '2023-06-01';
const NO_ALIASES: ModelAliases = new Map();
/** The most models Anthropic lists on one page: an OpenAI client reads one page and never asks for the next. */
const WHOLE_MODEL_LIST = 1_000;

/**
 * A Chat Completions body as the Messages request a node gets, and the translation of its answer back
 * (docs/OPENAI.md). The node's answer is read whole or frame by frame, so it must come uncompressed.
 */
export function chatCompletionsBound(
  raw: Buffer,
  opts: { modelAliases?: ModelAliases; maxBodyBytes: number; now(): number },
  requestId: string,
): NodeBound {
  const chat = translateChatRequest(parseJsonObject(raw), { aliases: opts.modelAliases ?? NO_ALIASES });
  const body = Buffer.from(JSON.stringify(chat.body));
  // The Messages form wraps some parts (tool results, schemas) in more JSON: the limit holds for what goes upstream.
  if (body.length > opts.maxBodyBytes)
    throw new AppError(
      'body_too_large',
      `Request body is too large once translated to the Messages format (more than ${opts.maxBodyBytes} bytes)`,
    );
  return {
    body,
    parsed: bodyFields(chat.body),
    path: '/v1/messages',
    // The body is the gateway's JSON, whatever type the client's claimed (curl -d says a form).
    headers: {
      'anthropic-version': ANTHROPIC_VERSION,
      'accept-encoding': 'identity',
      'content-type': 'application/json',
    },
    translation: chatTranslation({
      requestId,
      includeUsage: chat.includeUsage,
      created: Math.floor(opts.now() / 1000),
    }),
  };
}

/**
 * `GET /v1/models` answers both SDKs (docs/OPENAI.md, "Models"): OpenAI's send no `anthropic-version`, so the
 * node gets the one the list is read in, and (asking no page) the whole list on one page; the list is read
 * whole, so it must come uncompressed. It has no body.
 */
export function modelsListingBound(req: Request): NodeBound {
  const headers: Record<string, string> = { 'accept-encoding': 'identity' };
  const openAiClient = req.headers['anthropic-version'] === undefined;
  if (openAiClient) headers['anthropic-version'] = ANTHROPIC_VERSION;
  const onePage = openAiClient && !req.originalUrl.includes('?');
  return {
    body: EMPTY,
    parsed: NO_BODY,
    path: onePage ? `${req.originalUrl}?limit=${WHOLE_MODEL_LIST}` : req.originalUrl,
    headers,
    translation: modelsListTranslation(),
  };
}
