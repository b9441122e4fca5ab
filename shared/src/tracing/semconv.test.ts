import * as stable from '@opentelemetry/semantic-conventions';
import * as incubating from '@opentelemetry/semantic-conventions/incubating';
import { GenAiAttr, HttpAttr, MessagingAttr, ANTHROPIC_PROVIDER, CHAT_OPERATION } from './semconv.js';

// Our copies of the convention names must be the package's (the GenAI ones may move between its minor releases).
describe('the span attribute names', () => {
  it('are the stable HTTP convention names', () => {
    expect(HttpAttr).toEqual({
      method: stable.ATTR_HTTP_REQUEST_METHOD,
      status: stable.ATTR_HTTP_RESPONSE_STATUS_CODE,
      route: stable.ATTR_HTTP_ROUTE,
      urlPath: stable.ATTR_URL_PATH,
      urlFull: stable.ATTR_URL_FULL,
      urlScheme: stable.ATTR_URL_SCHEME,
      serverAddress: stable.ATTR_SERVER_ADDRESS,
      serverPort: stable.ATTR_SERVER_PORT,
      userAgent: stable.ATTR_USER_AGENT_ORIGINAL,
      errorType: stable.ATTR_ERROR_TYPE,
    });
  });

  it('are the GenAI and messaging convention names of the pinned package', () => {
    expect(GenAiAttr).toEqual({
      operation: incubating.ATTR_GEN_AI_OPERATION_NAME,
      provider: incubating.ATTR_GEN_AI_PROVIDER_NAME,
      requestModel: incubating.ATTR_GEN_AI_REQUEST_MODEL,
      requestMaxTokens: incubating.ATTR_GEN_AI_REQUEST_MAX_TOKENS,
      responseModel: incubating.ATTR_GEN_AI_RESPONSE_MODEL,
      responseId: incubating.ATTR_GEN_AI_RESPONSE_ID,
      finishReasons: incubating.ATTR_GEN_AI_RESPONSE_FINISH_REASONS,
      inputTokens: incubating.ATTR_GEN_AI_USAGE_INPUT_TOKENS,
      outputTokens: incubating.ATTR_GEN_AI_USAGE_OUTPUT_TOKENS,
      cacheReadTokens: incubating.ATTR_GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
      cacheWriteTokens: incubating.ATTR_GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
    });
    expect(MessagingAttr).toEqual({
      system: incubating.ATTR_MESSAGING_SYSTEM,
      operation: incubating.ATTR_MESSAGING_OPERATION_TYPE,
      destination: incubating.ATTR_MESSAGING_DESTINATION_NAME,
      messageId: incubating.ATTR_MESSAGING_MESSAGE_ID,
    });
    expect(ANTHROPIC_PROVIDER).toBe(incubating.GEN_AI_PROVIDER_NAME_VALUE_ANTHROPIC);
    expect(CHAT_OPERATION).toBe(incubating.GEN_AI_OPERATION_NAME_VALUE_CHAT);
  });
});
