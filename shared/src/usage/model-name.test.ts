import { createKeyspace } from '../redis/keys.js';
import { MAX_USAGE_MODEL_NAME, usageModelName } from './model-name.js';

describe('usageModelName', () => {
  it('keeps a model name that can be a key part as it was sent', () => {
    for (const model of ['claude-sonnet-4-6', 'claude-opus-4-1-20250805', 'vendor:model@v1'])
      expect(usageModelName(model)).toBe(model);
  });

  it('makes any model a client can send a name every usage key accepts', () => {
    const keys = createKeyspace('t:');
    const odd = [
      'claude opus',
      ' claude-sonnet-4-6\n',
      '\t',
      '',
      '\u0000\u001f',
      'claude-\uD800-\uDFFF',
      'x'.repeat(1_000_000),
      '😀'.repeat(100),
    ];
    for (const model of odd) {
      const name = usageModelName(model);
      expect(() => keys.usage('model', name, '2026-01-01')).not.toThrow();
      expect(name.length).toBeLessThanOrEqual(MAX_USAGE_MODEL_NAME);
      expect(name).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
    }
    expect(usageModelName('claude opus')).toBe('claude_opus');
    expect(usageModelName('')).toBe('unknown');
    expect(usageModelName('claude-\uD800')).toBe('claude-\uFFFD');
  });
});
