// Helpers for driving the fake over raw HTTP in tests (this folder's and anyone else's).
import { OAUTH_BETA } from './auth.js';

/** A current model id the fake serves. */
export const FAKE_MODEL = 'claude-sonnet-4-6';

/** Headers of an OAuth /v1 call, as Claude Code sends them. */
export function fakeOAuthHeaders(accessToken: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    authorization: `Bearer ${accessToken}`,
    'anthropic-beta': OAUTH_BETA,
    'anthropic-version': '2023-06-01',
    'content-type': 'application/json',
    ...extra,
  };
}

/** Headers of an API-key /v1 call. */
export function fakeApiKeyHeaders(apiKey: string): Record<string, string> {
  return { 'x-api-key': apiKey, 'anthropic-version': '2023-06-01', 'content-type': 'application/json' };
}

/** A small valid messages body. */
export function fakeMessagesBody(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return { model: FAKE_MODEL, max_tokens: 1024, messages: [{ role: 'user', content: 'Say hi' }], ...overrides };
}

/** POSTs a messages body. */
export function postFakeMessages(
  baseUrl: string,
  headers: Record<string, string>,
  body: unknown,
  init: { signal?: AbortSignal; path?: string } = {},
): Promise<Response> {
  return fetch(`${baseUrl}${init.path ?? '/v1/messages?beta=true'}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    ...(init.signal ? { signal: init.signal } : {}),
  });
}

/** One SSE frame: its `event:` name and raw `data:` text. */
export interface SseFrame {
  event: string;
  data: string;
}

/** Splits an SSE body into frames. */
export function parseSseFrames(text: string): SseFrame[] {
  return text
    .split('\n\n')
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      const frame: SseFrame = { event: '', data: '' };
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) frame.event = line.slice('event: '.length);
        else if (line.startsWith('data: ')) frame.data += line.slice('data: '.length);
      }
      return frame;
    });
}

/** Tokens by the fake's rule, computed independently of its tokenizer module. */
export function expectedTokens(text: string): number {
  return Math.ceil(new TextEncoder().encode(text).length / 4);
}
