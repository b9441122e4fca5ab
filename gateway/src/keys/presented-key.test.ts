import { presentedKey } from './presented-key.js';

describe('presentedKey', () => {
  it('takes x-api-key (ANTHROPIC_API_KEY)', () => {
    expect(presentedKey({ 'x-api-key': 'sy-one' })).toBe('sy-one');
  });

  it('takes the Bearer token (ANTHROPIC_AUTH_TOKEN), whatever the scheme case', () => {
    expect(presentedKey({ authorization: 'Bearer sy-two' })).toBe('sy-two');
    expect(presentedKey({ authorization: 'bearer   sy-two ' })).toBe('sy-two');
  });

  it('prefers x-api-key when both are sent', () => {
    expect(presentedKey({ 'x-api-key': 'sy-one', authorization: 'Bearer sy-two' })).toBe('sy-one');
  });

  it('falls back to Bearer when x-api-key is blank', () => {
    expect(presentedKey({ 'x-api-key': '  ', authorization: 'Bearer sy-two' })).toBe('sy-two');
  });

  it('finds nothing in other schemes, an empty Bearer, or no headers', () => {
    expect(presentedKey({ authorization: 'Basic dXNlcjpwYXNz' })).toBeUndefined();
    expect(presentedKey({ authorization: 'Bearer' })).toBeUndefined();
    expect(presentedKey({ authorization: 'Bearer a b' })).toBeUndefined();
    expect(presentedKey({})).toBeUndefined();
  });
});
