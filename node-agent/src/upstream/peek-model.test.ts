import { peekModel } from './peek-model.js';

const body = (json: unknown): Buffer => Buffer.from(JSON.stringify(json));

describe('peekModel', () => {
  it('reads the model an SDK or Claude Code puts first', () => {
    expect(peekModel(body({ model: 'claude-sonnet-4-6', max_tokens: 10, messages: [] }))).toBe('claude-sonnet-4-6');
    expect(peekModel(body({ model: 'anthropic/claude-3.5:beta@2', messages: [] }))).toBe('anthropic/claude-3.5:beta@2');
  });

  it('never takes conversation text: a nested "model" that is no model-id-shaped token is not a model', () => {
    // The Python SDK sends messages before model: a tool's input may hold a "model" of its own first.
    const nested = {
      max_tokens: 10,
      messages: [
        {
          role: 'assistant',
          content: [
            { type: 'tool_use', id: 't1', name: 'lookup', input: { model: 'CONFIDENTIAL acquisition target Foo' } },
          ],
        },
      ],
      model: 'claude-sonnet-4-6',
    };
    // The nested text is passed over; the top-level model after it is found.
    expect(peekModel(body(nested))).toBe('claude-sonnet-4-6');
    expect(peekModel(body({ ...nested, model: undefined }))).toBeUndefined();
    expect(peekModel(Buffer.alloc(0))).toBeUndefined();
    expect(peekModel(body({ model: 'x'.repeat(200) }))).toBeUndefined();
  });
});
