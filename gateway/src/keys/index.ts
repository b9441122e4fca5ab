// Gateway user keys: their format, records, storage and the request-path authenticator.
export { GATEWAY_KEY_LENGTH, generateGatewayKey, isWellFormedGatewayKey, keyDigest, keyHint } from './gateway-key.js';
export {
  KeyRecordSchema,
  MAX_USD_BUDGET,
  parseKeyRecord,
  toKeyView,
  usdBudget,
  usdToMicros,
  type KeyRecord,
  type KeyView,
} from './key-record.js';
export {
  createKeyRepository,
  type KeyRepository,
  type KeyRepositoryKeys,
  type KeyRepositoryStore,
  type KeySettings,
} from './key-repository.js';
export {
  createKeyAuthenticator,
  type AuthResult,
  type KeyAuthenticator,
  type KeyAuthenticatorDeps,
} from './key-authenticator.js';
export { presentedKey } from './presented-key.js';
