import type { Logger } from '@switchyard/shared';
import type { NodeConfig } from '../config.js';
import type { Egress } from '../upstream/egress.js';
import type { AccountAuth } from './account-auth.js';
import { createApiKeyAccount } from './api-key-account.js';
import { createCredentialFile } from './credential-file.js';
import { bootstrapCredential } from './credential-sources.js';
import { createOAuthAccount, type OAuthAccountOptions } from './oauth-account.js';
import { createOAuthClient } from './oauth-client.js';
import type { SealedCopy } from './sealed-copy.js';

/** The config fields the account needs. */
export type AccountConfig = Pick<
  NodeConfig,
  | 'NODE_ID'
  | 'ANTHROPIC_API_KEY'
  | 'CLAUDE_REFRESH_TOKEN'
  | 'CLAUDE_CREDENTIALS_FILE'
  | 'CREDENTIALS_DIR'
  | 'ANTHROPIC_OAUTH_TOKEN_URL'
  | 'ANTHROPIC_BASE_URL'
  | 'OAUTH_CLIENT_ID'
  | 'REFRESH_MARGIN_MS'
>;

/** Tunables of the OAuth account (tests inject clocks and short backoffs). */
export type OAuthTuning = Partial<
  Pick<
    OAuthAccountOptions,
    'now' | 'random' | 'sleep' | 'expirySkewMs' | 'backoff' | 'storeBackoff' | 'needsLoginPollMs'
  >
> & {
  tokenTimeoutMs?: number;
};

export interface AccountAuthDeps {
  config: AccountConfig;
  egress: Egress;
  log: Logger;
  /** The gateway's sealed copy of the credential record (createSealedCopy). */
  copy: Pick<SealedCopy, 'load' | 'save'>;
  tuning?: OAuthTuning;
  /** Told how every OAuth refresh run ended (for the metrics). */
  onRefreshOutcome?: OAuthAccountOptions['onRefreshOutcome'];
}

/**
 * The node's account from its config: an API key account, or an OAuth account bootstrapped from the newest of
 * CLAUDE_REFRESH_TOKEN, CLAUDE_CREDENTIALS_FILE, the volume record and the gateway's sealed copy (written to the
 * volume and re-sealed). Call start() afterwards to begin background refresh.
 * @throws CredentialError when no account is configured, a credentials file is unreadable or malformed, or the volume is not writable.
 */
export async function createAccountAuth(deps: AccountAuthDeps): Promise<AccountAuth> {
  const { config, tuning = {} } = deps;
  if (config.ANTHROPIC_API_KEY !== undefined) return createApiKeyAccount(config.ANTHROPIC_API_KEY);
  const nodeId = config.NODE_ID;
  const file = createCredentialFile(config.CREDENTIALS_DIR, nodeId);
  const initial = await bootstrapCredential({ nodeId, config, file, copy: deps.copy, log: deps.log });
  const { tokenTimeoutMs, ...accountTuning } = tuning;
  const client = createOAuthClient({
    egress: deps.egress,
    tokenUrl: new URL(config.ANTHROPIC_OAUTH_TOKEN_URL),
    clientId: config.OAUTH_CLIENT_ID,
    profileUrl: new URL('/api/oauth/profile', config.ANTHROPIC_BASE_URL),
    ...(tokenTimeoutMs === undefined ? {} : { timeoutMs: tokenTimeoutMs }),
    ...(accountTuning.now === undefined ? {} : { now: accountTuning.now }),
  });
  return createOAuthAccount({
    nodeId,
    file,
    copy: deps.copy,
    client,
    log: deps.log,
    initial,
    refreshMarginMs: config.REFRESH_MARGIN_MS,
    ...(deps.onRefreshOutcome === undefined ? {} : { onRefreshOutcome: deps.onRefreshOutcome }),
    ...accountTuning,
  });
}
