// The fake Anthropic upstream for tests, the demo and the benchmark.
export { createFakeAnthropic } from './create-fake-anthropic.js';
export { CLAUDE_CODE_CLIENT_ID, MANUAL_REDIRECT_URI, OAUTH_SCOPES } from './context.js';
export { AUTH_MESSAGES, OAUTH_BETA } from './auth.js';
export { pkceChallenge } from './authorization-codes.js';
export { countTextTokens, countInputTokens } from './tokenizer.js';
export type * from './types.js';
export {
  FAKE_MODEL,
  fakeApiKeyHeaders,
  fakeMessagesBody,
  fakeOAuthHeaders,
  parseSseFrames,
  postFakeMessages,
} from './test-support.js';
export type { SseFrame } from './test-support.js';
