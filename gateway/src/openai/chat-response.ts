// A node's answer to a translated Chat Completions request, back in OpenAI's format: the JSON answer
// (docs/OPENAI.md, "Response"), the stream (chat-stream.ts, "Streaming") and errors (openai-errors.ts, "Errors").
// `chatTranslation` is what the forwarder asks for a translator, once per relayed node answer.
import type { IncomingHttpHeaders } from 'node:http';
import { asRecord, usageFromMessage } from '@switchyard/shared';
import {
  createChatStreamTranslator,
  finishReasonFor,
  openAiUsage,
  type ChatUsage,
  type FinishReason,
} from './chat-stream.js';
import { nodeErrorEnvelope, openAiErrorEnvelope, serverErrorEnvelope } from './openai-errors.js';
import type { BodyTranslator, ChatResponseContext, ResponseTranslation } from './types.js';

export interface ChatToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

export interface ChatCompletionMessage {
  role: 'assistant';
  content: string | null;
  refusal: null;
  /** The thinking blocks' text (DeepSeek's, vLLM's and LiteLLM's field); absent when there was no thinking. */
  reasoning_content?: string;
  /** Absent when the answer called no tool, as in OpenAI's own answers. */
  tool_calls?: ChatToolCall[];
}

/** A `chat.completion` object. */
export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: [{ index: 0; message: ChatCompletionMessage; logprobs: null; finish_reason: FinishReason | null }];
  usage: ChatUsage;
}

const JSON_TYPE = 'application/json';
const NOT_A_MESSAGE = 'The upstream node answered with something that is not a message';
const ENCODED = 'The upstream node answered with a compressed body, though the gateway asked for none';

/** The node's body is compressed (the gateway asks for `identity`, so only a misbehaving hop does it): unreadable. */
function encoded(headers: IncomingHttpHeaders): boolean {
  const encoding = headers['content-encoding'];
  return encoding !== undefined && encoding.trim().toLowerCase() !== 'identity';
}

/**
 * A translator that keeps the node's whole body and translates it at its end. Only for bodies the node bounds (a
 * message, an error, a model list): decoding once at the end also makes chunk boundaries inside a character harmless.
 */
export function bufferedTranslator(
  contentType: string,
  translate: (body: string) => string,
  onBroke: (message: string) => string,
  status?: () => number | undefined,
): BodyTranslator {
  const chunks: Buffer[] = [];
  let brokeOff = false;
  return {
    contentType,
    sse: false,
    // A body that broke off is answered with the error `onBroke` gives, as a 502: nothing of it reached the client.
    status: () => (brokeOff ? 502 : status?.()),
    push(chunk) {
      chunks.push(chunk);
      return '';
    },
    end() {
      const whole = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks.length = 0;
      return translate(whole.toString('utf8'));
    },
    broke(message) {
      chunks.length = 0;
      brokeOff = true;
      return onBroke(message);
    },
  };
}

function isEventStream(headers: IncomingHttpHeaders): boolean {
  const type = headers['content-type'];
  return typeof type === 'string' && type.trimStart().toLowerCase().startsWith('text/event-stream');
}

/** The Messages blocks as the message's content, reasoning and tool calls. */
function readBlocks(blocks: unknown[]): Omit<ChatCompletionMessage, 'role' | 'refusal'> {
  let content: string | null = null;
  let reasoning: string | undefined;
  const toolCalls: ChatToolCall[] = [];
  for (const item of blocks) {
    const block = asRecord(item);
    if (block?.type === 'text' && typeof block.text === 'string') content = (content ?? '') + block.text;
    else if (block?.type === 'thinking' && typeof block.thinking === 'string')
      reasoning = (reasoning ?? '') + block.thinking;
    else if (block?.type === 'tool_use') {
      const id = typeof block.id === 'string' ? block.id : '';
      const name = typeof block.name === 'string' ? block.name : '';
      toolCalls.push({ id, type: 'function', function: { name, arguments: JSON.stringify(block.input ?? {}) } });
    }
    // redacted_thinking, server tool blocks and blocks Anthropic may add have no Chat Completions shape.
  }
  const message: Omit<ChatCompletionMessage, 'role' | 'refusal'> = { content };
  if (reasoning !== undefined) message.reasoning_content = reasoning;
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}

/** A Messages response body (parsed) as a `chat.completion`; undefined when the body is not a message. */
export function chatCompletionFromMessage(body: unknown, created: number): ChatCompletion | undefined {
  const summary = usageFromMessage(body); // null unless `type: 'message'`
  const content = asRecord(body)?.content;
  if (!summary || !Array.isArray(content)) return undefined;
  return {
    id: summary.messageId ?? '',
    object: 'chat.completion',
    created,
    model: summary.model ?? '',
    choices: [
      {
        index: 0,
        message: { role: 'assistant', refusal: null, ...readBlocks(content) },
        logprobs: null,
        finish_reason: finishReasonFor(summary.stopReason),
      },
    ],
    usage: openAiUsage(summary.usage),
  };
}

/** The client's answer for a node's JSON answer: the completion, or a 502 server_error envelope if it is not a message. */
function completionBody(text: string, created: number): { status?: number; body: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const completion = chatCompletionFromMessage(parsed, created);
  // An SDK reads any 2xx as a completion: a body that is none must not come with a 200.
  return completion === undefined
    ? { status: 502, body: JSON.stringify(serverErrorEnvelope(NOT_A_MESSAGE)) }
    : { body: JSON.stringify(completion) };
}

/** The translator of a node's JSON answer (a message), whose status becomes 502 when the body is none. */
function completionTranslator(created: number): BodyTranslator {
  let status: number | undefined;
  const translate = (text: string): string => {
    const out = completionBody(text, created);
    status = out.status;
    return out.body;
  };
  return bufferedTranslator(JSON_TYPE, translate, brokeBody, () => status);
}

function brokeBody(message: string): string {
  return JSON.stringify(serverErrorEnvelope(message, 'api_error'));
}

/**
 * How the forwarder answers an OpenAI client: node answers through the matching translator (an error status, a
 * stream, a JSON message), the gateway's own errors in OpenAI's envelope.
 */
export function chatTranslation(ctx: ChatResponseContext): ResponseTranslation {
  return {
    open(status, headers) {
      if (encoded(headers)) {
        const body = JSON.stringify(serverErrorEnvelope(ENCODED));
        return bufferedTranslator(
          JSON_TYPE,
          () => body,
          () => body,
          () => 502,
        );
      }
      if (status >= 400) {
        // A cut error body is no envelope: the client gets the status's generic error, as for any unreadable one.
        const translate = (body: string): string => JSON.stringify(nodeErrorEnvelope(status, body));
        return bufferedTranslator(JSON_TYPE, translate, () => translate(''));
      }
      if (isEventStream(headers)) return createChatStreamTranslator(ctx);
      return completionTranslator(ctx.created);
    },
    errorBody(err) {
      return JSON.stringify(openAiErrorEnvelope(err));
    },
  };
}
