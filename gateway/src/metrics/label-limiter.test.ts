import { createLabelLimiter } from './label-limiter.js';

describe('createLabelLimiter', () => {
  it('passes the first values as they are, then folds new ones into "other"', () => {
    const label = createLabelLimiter(2);
    expect([label('claude-a'), label('claude-b'), label('claude-c'), label('claude-a'), label('claude-d')]).toEqual([
      'claude-a',
      'claude-b',
      'other',
      'claude-a',
      'other',
    ]);
  });

  it('reads an absent value as "none" and cuts long ones', () => {
    const label = createLabelLimiter(5);
    expect(label(undefined)).toBe('none');
    expect(label('')).toBe('none');
    expect(label('m'.repeat(500))).toHaveLength(100);
  });
});
