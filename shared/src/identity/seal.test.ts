import { NodeTokens } from './token-format.js';
import { isSealedShape, openForNode, sealForNode, SealError } from './seal.js';

const record = JSON.stringify({
  type: 'oauth',
  refresh: 'refresh-fake-1',
  access: 'access-fake-1',
  expires: 1_800_000_000_000,
});

describe('sealing a node credential', () => {
  const token = NodeTokens.generate();

  it('opens with the token and node id it was sealed for, and the ciphertext holds no plaintext', () => {
    const sealed = sealForNode(token, 'node-a', record);
    expect(isSealedShape(sealed)).toBe(true);
    expect(sealed).not.toContain('refresh-fake-1');
    expect(sealed).not.toContain(token);
    expect(openForNode(token, 'node-a', sealed)).toBe(record);
  });

  it('seals the same record differently each time (fresh salt and IV)', () => {
    expect(sealForNode(token, 'node-a', record)).not.toBe(sealForNode(token, 'node-a', record));
  });

  it('does not open with another token, another node id, or altered bytes', () => {
    const sealed = sealForNode(token, 'node-a', record);
    expect(() => openForNode(NodeTokens.generate(), 'node-a', sealed)).toThrow(SealError);
    expect(() => openForNode(token, 'node-b', sealed)).toThrow(SealError);
    const raw = Buffer.from(sealed.slice(4), 'base64url');
    raw[raw.length - 1] = (raw[raw.length - 1] ?? 0) ^ 0x01; // one bit of the ciphertext
    const flipped = `sy1.${raw.toString('base64url')}`;
    expect(() => openForNode(token, 'node-a', flipped)).toThrow(SealError);
    expect(() => openForNode(token, 'node-a', 'not sealed')).toThrow(SealError);
    expect(() => openForNode(token, 'node-a', 'sy1.AAAA')).toThrow(SealError);
  });
});

describe('node tokens', () => {
  it('are syn- tokens with a checksum that catches a typo', () => {
    const token = NodeTokens.generate();
    expect(token).toMatch(/^syn-[0-9A-Za-z]{49}$/);
    expect(NodeTokens.isWellFormed(token)).toBe(true);
    const typo = token.slice(0, 10) + (token[10] === 'a' ? 'b' : 'a') + token.slice(11);
    expect(NodeTokens.isWellFormed(typo)).toBe(false);
    expect(NodeTokens.isWellFormed(`sy-${token.slice(4)}`)).toBe(false);
    expect(NodeTokens.hint(token)).toBe(`${token.slice(0, 8)}…${token.slice(-4)}`);
  });
});
