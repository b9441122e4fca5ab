import { bearerToken } from './bearer-token.js';

describe('bearerToken', () => {
  it('takes the token of a Bearer header, whatever the scheme case and the blanks around it', () => {
    expect(bearerToken('Bearer syn-abc')).toBe('syn-abc');
    expect(bearerToken('bearer   sy-two ')).toBe('sy-two');
    expect(bearerToken('BEARER\ttok\t')).toBe('tok');
  });

  it('finds nothing in other schemes, an empty or two-part token, a list of headers, or no header', () => {
    for (const header of ['Basic dXNlcjpwYXNz', 'Bearer', 'Bearer ', 'Bearer a b', 'Bearertok', 'tok', '']) {
      expect(bearerToken(header)).toBeUndefined();
    }
    expect(bearerToken(['Bearer one', 'Bearer two'])).toBeUndefined();
    expect(bearerToken(undefined)).toBeUndefined();
  });
});
