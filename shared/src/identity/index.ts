export { NodeTokens, tokenDigest, tokenFormat, type TokenFormat } from './token-format.js';
export { isSealedShape, MAX_SEALED_LENGTH, openForNode, sealForNode, SealError } from './seal.js';
