// The node's credentials: one account (OAuth or API key), its sources, its record on the volume, the gateway's
// sealed copy, refresh and the login flow.
export type { AccountAuth, AuthStatus } from './account-auth.js';
export { createApiKeyAccount, maskApiKey } from './api-key-account.js';
export {
  createAccountAuth,
  type AccountAuthDeps,
  type AccountConfig,
  type OAuthTuning,
} from './create-account-auth.js';
export { createCredentialFile, type CredentialFile } from './credential-file.js';
export {
  bootstrapCredential,
  rankCandidates,
  type BootstrapResult,
  type CredentialCandidate,
} from './credential-sources.js';
export { LoginError, runLogin, type LoginConfig, type LoginDeps, type LoginIO } from './login.js';
export { createOAuthAccount, type OAuthAccountOptions } from './oauth-account.js';
export { createOAuthClient, type OAuthClient, type TokenResult } from './oauth-client.js';
export type { RefreshOutcome } from './refresher.js';
export { createSealedCopy, SealedCopyError, type SealedCopy, type SealedCopyOptions } from './sealed-copy.js';
export {
  CredentialError,
  OAuthCredentialSchema,
  parseCredentialText,
  serializeCredential,
  type OAuthCredential,
} from './oauth-credential.js';
