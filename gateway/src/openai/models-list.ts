// `GET /v1/models` for both SDKs (docs/OPENAI.md, "Models"): Anthropic's list keeps its own fields and gains OpenAI's,
// so one answer satisfies the `anthropic` and the `openai` SDK alike. Errors keep Anthropic's envelope on this route.
import type { IncomingHttpHeaders } from 'node:http';
import { asRecord, errorEnvelope } from '@switchyard/shared';
import { bufferedTranslator } from './chat-response.js';
import { parseJsonRecord } from './openai-errors.js';
import type { ResponseTranslation } from './types.js';

/** Unix seconds from Anthropic's ISO `created_at`; 0 when there is none to read. */
function createdSeconds(createdAt: unknown): number {
  const ms = typeof createdAt === 'string' ? Date.parse(createdAt) : NaN;
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

/** Anthropic's list with OpenAI's fields added; any body that is not such a list passes unchanged. */
function withOpenAiModelFields(text: string): string {
  const list = parseJsonRecord(text);
  if (!list || !Array.isArray(list.data)) return text;
  const data = list.data.map((item: unknown) => {
    const model = asRecord(item);
    return model
      ? { ...model, object: 'model', created: createdSeconds(model.created_at), owned_by: 'anthropic' }
      : item;
  });
  return JSON.stringify({ object: 'list', ...list, data });
}

function brokeBody(message: string): string {
  return JSON.stringify(errorEnvelope('api_error', message));
}

/** The forwarder's translation for `GET /v1/models`: success gains OpenAI's fields, errors pass as Anthropic's. */
export function modelsListTranslation(): ResponseTranslation {
  return {
    open(status: number, headers: IncomingHttpHeaders) {
      // The node's content-type stays: a passed-through body is exactly what the node sent.
      const contentType = typeof headers['content-type'] === 'string' ? headers['content-type'] : 'application/json';
      const translate = status >= 400 ? (body: string) => body : withOpenAiModelFields;
      return bufferedTranslator(contentType, translate, brokeBody);
    },
    errorBody(err, requestId) {
      return JSON.stringify(errorEnvelope(err.anthropicType, err.message, requestId));
    },
  };
}
