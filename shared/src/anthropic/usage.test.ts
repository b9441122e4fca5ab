import { UsageSchema, emptyUsage, usageFromMessage } from './usage.js';

// The non-streaming body from docs/ANTHROPIC.md §5, with non-zero cache figures.
const MESSAGE = {
  id: 'msg_01',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-6',
  content: [
    { type: 'thinking', thinking: '…', signature: 'sig' },
    { type: 'text', text: 'Hi' },
  ],
  stop_reason: 'end_turn',
  stop_sequence: null,
  usage: {
    input_tokens: 25,
    output_tokens: 15,
    cache_creation_input_tokens: 700,
    cache_read_input_tokens: 1200,
    cache_creation: { ephemeral_5m_input_tokens: 300, ephemeral_1h_input_tokens: 400 },
    service_tier: 'standard',
  },
};

describe('usageFromMessage', () => {
  it('reads every count, the stop reason, the model and the id', () => {
    expect(usageFromMessage(MESSAGE)).toEqual({
      usage: {
        inputTokens: 25,
        outputTokens: 15,
        cacheCreationInputTokens: 700,
        cacheCreation5mInputTokens: 300,
        cacheCreation1hInputTokens: 400,
        cacheReadInputTokens: 1200,
      },
      stopReason: 'end_turn',
      model: 'claude-sonnet-4-6',
      messageId: 'msg_01',
    });
  });

  it('counts absent or malformed fields as 0', () => {
    const result = usageFromMessage({
      type: 'message',
      usage: { input_tokens: 3, output_tokens: '7', cache_read_input_tokens: -1 },
    });
    expect(result).toEqual({
      usage: { ...emptyUsage(), inputTokens: 3 },
      stopReason: null,
      model: null,
      messageId: null,
    });
    expect(usageFromMessage({ type: 'message' })?.usage).toEqual(emptyUsage());
  });

  it('returns null for anything that is not a message', () => {
    expect(usageFromMessage({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })).toBeNull();
    expect(usageFromMessage({ input_tokens: 12 })).toBeNull();
    expect(usageFromMessage(null)).toBeNull();
    expect(usageFromMessage([MESSAGE])).toBeNull();
    expect(usageFromMessage('message')).toBeNull();
  });

  it('produces values the Usage schema accepts', () => {
    expect(UsageSchema.parse(usageFromMessage(MESSAGE)?.usage)).toEqual(usageFromMessage(MESSAGE)?.usage);
    expect(() => UsageSchema.parse({ ...emptyUsage(), inputTokens: -1 })).toThrow();
  });
});
