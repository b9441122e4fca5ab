// Sealing a node's credential record for safe keeping by the gateway: AES-256-GCM under a key derived
// (HKDF-SHA256) from the node's token, which the gateway never stores (it keeps only the token's digest).
// So the ciphertext in Redis is useless to anyone without the node's token, the gateway included.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'sy1';
const SALT_BYTES = 16;
const IV_BYTES = 12;
const TAG_BYTES = 16;
/** A sealed value longer than this is refused (a credential record is a few hundred bytes). */
export const MAX_SEALED_LENGTH = 16 * 1024;
const SEALED_RE = /^sy1\.[A-Za-z0-9_-]+$/;

/** The token does not open this sealed value: another token, another node id, or altered bytes. */
export class SealError extends Error {
  override readonly name = 'SealError';
}

function keyFor(token: string, nodeId: string, salt: Buffer): Buffer {
  // The node id is in the info string, so a copy filed under another node id does not open.
  return Buffer.from(
    hkdfSync(
      'sha256',
      Buffer.from(token, 'utf8'),
      salt,
      Buffer.from(`switchyard credential seal v1\0${nodeId}`, 'utf8'),
      32,
    ),
  );
}

/**
 * Seals `plaintext` for node `nodeId` under its `token`: `sy1.` + base64url(salt | iv | tag | ciphertext).
 * @example const sealed = sealForNode(token, 'node-a', JSON.stringify(credential));
 */
export function sealForNode(token: string, nodeId: string, plaintext: string): string {
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(token, nodeId, salt), iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return `${VERSION}.${Buffer.concat([salt, iv, cipher.getAuthTag(), body]).toString('base64url')}`;
}

/** Whether `s` has the outward shape of a sealed value (the gateway checks this; it cannot open it). */
export function isSealedShape(s: string): boolean {
  return s.length <= MAX_SEALED_LENGTH && SEALED_RE.test(s);
}

/**
 * Opens a value sealed by sealForNode.
 * @throws SealError when the token or node id differ, or the value was altered or is not sealed.
 */
export function openForNode(token: string, nodeId: string, sealed: string): string {
  if (!isSealedShape(sealed)) throw new SealError('not a sealed credential');
  const raw = Buffer.from(sealed.slice(VERSION.length + 1), 'base64url');
  if (raw.length < SALT_BYTES + IV_BYTES + TAG_BYTES) throw new SealError('sealed credential too short');
  const salt = raw.subarray(0, SALT_BYTES);
  const iv = raw.subarray(SALT_BYTES, SALT_BYTES + IV_BYTES);
  const tag = raw.subarray(SALT_BYTES + IV_BYTES, SALT_BYTES + IV_BYTES + TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', keyFor(token, nodeId, salt), iv);
  decipher.setAuthTag(tag);
  try {
    return Buffer.concat([decipher.update(raw.subarray(SALT_BYTES + IV_BYTES + TAG_BYTES)), decipher.final()]).toString(
      'utf8',
    );
  } catch {
    throw new SealError('the sealed credential does not open with this token and node id');
  }
}
