// The shape of a gateway key: 'sy-' + 43 base62 characters (32 random bytes) + a 6-character checksum
// (the format is shared with node tokens: shared/src/identity/token-format.ts).
import { tokenDigest, tokenFormat } from '@switchyard/shared';

const GatewayKeys = tokenFormat('sy-');

/** Length of every gateway key. */
export const GATEWAY_KEY_LENGTH = GatewayKeys.length;

/**
 * A new gateway key: `sy-` + 32 random bytes in base62 + a checksum. Shown to the admin once; only its digest is stored.
 * @example generateGatewayKey(); // 'sy-3kR…' (52 characters)
 */
export const generateGatewayKey = (): string => GatewayKeys.generate();

/** Whether `s` has the shape of a gateway key and its checksum matches (constant work for every string of the right length). */
export const isWellFormedGatewayKey = (s: string): boolean => GatewayKeys.isWellFormed(s);

/** The SHA-256 hex of a presented key: the only form in which a key reaches Redis. */
export const keyDigest = tokenDigest;

/** A form of the key that is safe to show and log, e.g. 'sy-AbCd…wxyz' (4 random characters and 4 of the checksum). */
export const keyHint = (key: string): string => GatewayKeys.hint(key);
