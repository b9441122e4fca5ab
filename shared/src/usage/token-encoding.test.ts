import { TOKEN_ENCODINGS, TokenEncodingSchema } from './token-encoding.js';

describe('TokenEncodingSchema', () => {
  it('reads every listed encoding, and o200k_base when TOKEN_ENCODING is unset', () => {
    for (const name of TOKEN_ENCODINGS) expect(TokenEncodingSchema.parse(name)).toBe(name);
    expect(TokenEncodingSchema.parse(undefined)).toBe('o200k_base');
  });

  it('refuses a name js-tiktoken has no ranks for', () => {
    expect(TokenEncodingSchema.safeParse('o300k').success).toBe(false);
    expect(TokenEncodingSchema.safeParse('o200k base').success).toBe(false);
  });
});
