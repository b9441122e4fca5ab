// The OpenAI route's vocabulary: what the request translation returns and what the response translation does.
// The mapping itself is written down in docs/OPENAI.md; the code follows that table.
import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from '@switchyard/shared';

/** Operator-given model names (MODEL_ALIASES): other names → Claude model ids. */
export type ModelAliases = ReadonlyMap<string, string>;

/** A Chat Completions request as a Messages request. */
export interface TranslatedChatRequest {
  /** The Messages API body that goes to the node (the route serialises it once). */
  body: Record<string, unknown>;
  stream: boolean;
  /** `stream_options.include_usage`: the stream ends with a usage chunk. */
  includeUsage: boolean;
}

/** What the request translation needs besides the body. */
export interface ChatRequestOptions {
  aliases: ModelAliases;
}

/** The OpenAI `error.code` of a field the translation refuses. */
export type ChatFieldProblem =
  'unsupported_parameter' | 'invalid_value' | 'missing_required_parameter' | 'invalid_type';

/**
 * A Chat Completions field the gateway cannot honour: a 400 whose OpenAI envelope names the field
 * (`param`, e.g. `messages[2].content[0].type`) and the problem (`code`).
 */
export class ChatFieldError extends AppError {
  constructor(
    readonly param: string,
    readonly problem: ChatFieldProblem,
    message: string,
  ) {
    super('bad_request', message);
  }
}

/**
 * Turns one node answer (a Messages API response) into the client's body, chunk by chunk. Never throws:
 * a node answer it cannot read becomes an error in the client's format.
 */
export interface BodyTranslator {
  /** The client's content-type. */
  readonly contentType: string;
  /** The client body is an SSE stream (written frame by frame, never buffered whole). */
  readonly sse: boolean;
  /** The client's bytes for a chunk of the node's body ('' while it waits for more). */
  push(chunk: Buffer): string;
  /** The client's last bytes once the node's body ended. */
  end(): string;
  /** The client's last bytes when the node's body broke off after its first byte (a stream's terminal error). */
  broke(message: string): string;
  /**
   * A body read whole (not SSE) is answered after `end()`, so its status can still change: the status the client
   * gets instead of the node's (a 200 whose body was no message: 502). Absent or undefined: the node's.
   */
  status?(): number | undefined;
  /**
   * True once the client's body is whole or ended with an error the translator wrote: the client's response ends
   * there, and the rest of the node's body is only read (for the usage capture), never relayed.
   */
  closed?(): boolean;
}

/** What the response translation knows of the request. */
export interface ChatResponseContext {
  requestId: string;
  /** `stream_options.include_usage`. */
  includeUsage: boolean;
  /** Unix seconds, for `created` (the gateway's clock). */
  created: number;
}

/**
 * How the forwarder answers a client whose format is not the node's: the node's answer through a translator,
 * and the gateway's own errors (no node reachable, none available) in the client's envelope.
 */
export interface ResponseTranslation {
  /** A translator for the node answer with this status and headers. */
  open(status: number, headers: IncomingHttpHeaders): BodyTranslator;
  /** The client's body for an error the gateway answers itself. */
  errorBody(err: AppError, requestId: string): string;
}
