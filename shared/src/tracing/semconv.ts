// The attribute names the spans use: the OpenTelemetry semantic conventions for HTTP (stable) and GenAI
// (development), and Switchyard's own under `switchyard.*`. Written out here rather than imported: the GenAI ones
// live in the package's `incubating` entry, which its authors ask users to copy because names there may change
// between minor releases; semconv.test.ts checks each against the package we pin.

/** HTTP and network (stable). */
export const HttpAttr = {
  method: 'http.request.method',
  status: 'http.response.status_code',
  route: 'http.route',
  urlPath: 'url.path',
  urlFull: 'url.full',
  urlScheme: 'url.scheme',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  userAgent: 'user_agent.original',
  errorType: 'error.type',
} as const;

/** GenAI (development status in the conventions). */
export const GenAiAttr = {
  operation: 'gen_ai.operation.name',
  provider: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  requestMaxTokens: 'gen_ai.request.max_tokens',
  responseModel: 'gen_ai.response.model',
  responseId: 'gen_ai.response.id',
  finishReasons: 'gen_ai.response.finish_reasons',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  cacheReadTokens: 'gen_ai.usage.cache_read.input_tokens',
  cacheWriteTokens: 'gen_ai.usage.cache_creation.input_tokens',
} as const;

/** Messaging, for the usage worker's job span (development status). */
export const MessagingAttr = {
  system: 'messaging.system',
  operation: 'messaging.operation.type',
  destination: 'messaging.destination.name',
  messageId: 'messaging.message.id',
} as const;

/** Switchyard's own. */
export const SwitchyardAttr = {
  requestId: 'switchyard.request_id',
  keyId: 'switchyard.key_id',
  nodeId: 'switchyard.node.id',
  sticky: 'switchyard.routing.sticky',
  candidates: 'switchyard.routing.candidates',
  failoverReason: 'switchyard.failover.reason',
  accountKind: 'switchyard.account.kind',
  stream: 'switchyard.stream',
  ttfbMs: 'switchyard.ttfb_ms',
  firstTextDeltaMs: 'switchyard.first_text_delta_ms',
} as const;

/** gen_ai.provider.name and gen_ai.operation.name for a Messages call. */
export const ANTHROPIC_PROVIDER = 'anthropic';
export const CHAT_OPERATION = 'chat';
