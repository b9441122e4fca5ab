// The fake Anthropic upstream: a real node:http server speaking the API of docs/ANTHROPIC.md, with switches for tests.
import { EventEmitter } from 'node:events';
import type { AccountState } from './accounts.js';
import { createAccountStore } from './accounts.js';
import { createAuthorizationCodes } from './authorization-codes.js';
import type { FakeState, ResolvedOptions } from './context.js';
import { CLAUDE_CODE_CLIENT_ID, MANUAL_REDIRECT_URI } from './context.js';
import { createFaultStore } from './faults.js';
import { createFakeServer } from './fake-server.js';
import { createPromptCache } from './prompt-cache.js';
import { createRecorder, createUsageLedger } from './records.js';
import type { AccountInfo, FakeAnthropic, FakeAnthropicEvents, FakeAnthropicOptions, Timing } from './types.js';

function resolveOptions(options: FakeAnthropicOptions): ResolvedOptions {
  return {
    accessTokenTtlSec: options.accessTokenTtlSec ?? 28_800,
    authCodeTtlSec: options.authCodeTtlSec ?? 600,
    clientId: options.clientId ?? CLAUDE_CODE_CLIENT_ID,
    redirectUri: options.redirectUri ?? MANUAL_REDIRECT_URI,
    requireVersionHeader: options.requireVersionHeader ?? true,
    minCacheableTokens: options.minCacheableTokens ?? 0,
    recordBodies: options.recordBodies ?? true,
    recordLimit: options.recordLimit ?? 10_000,
    maxBodyBytes: options.maxBodyBytes ?? 32 * 1024 * 1024,
  };
}

function resolveTiming(timing: Partial<Timing> = {}): Timing {
  return { firstByteDelayMs: 0, deltaIntervalMs: 0, textDeltas: 3, ...timing };
}

function accountInfo(account: AccountState): AccountInfo {
  const info: AccountInfo = {
    id: account.id,
    kind: account.kind,
    email: account.email,
    uuid: account.uuid,
    organizationUuid: account.organizationUuid,
  };
  if (account.apiKey) info.apiKey = account.apiKey;
  return info;
}

/**
 * Creates the fake; nothing listens until start().
 * @example
 * const fake = createFakeAnthropic({ accounts: [{ id: 'a' }, { id: 'k', kind: 'api_key' }] });
 * const url = await fake.start();
 * const refreshToken = fake.issueRefreshToken('a');
 */
export function createFakeAnthropic(options: FakeAnthropicOptions = {}): FakeAnthropic {
  const resolved = resolveOptions(options);
  const emitter = new EventEmitter().setMaxListeners(100);
  const state: FakeState = {
    options: resolved,
    timing: resolveTiming(options.timing),
    accounts: createAccountStore(options.accounts ?? [{ id: 'acct-1', kind: 'oauth' }], resolved),
    codes: createAuthorizationCodes({ ttlSec: resolved.authCodeTtlSec }),
    cache: createPromptCache({ minCacheableTokens: resolved.minCacheableTokens }),
    faults: createFaultStore(),
    ledger: createUsageLedger(),
    recorder: createRecorder(resolved.recordLimit),
    emit: (event, payload) => emitter.emit(event, payload),
  };
  const server = createFakeServer(state);

  return {
    start: ({ port = 0, host = '127.0.0.1' } = {}) => server.start(port, host),
    stop: () => server.stop(),
    get url() {
      const url = server.url();
      if (!url) throw new Error('fake-anthropic: not started');
      return url;
    },
    get requests() {
      return state.recorder.requests;
    },
    get tokenRequests() {
      return state.recorder.tokenRequests;
    },
    accounts: () => state.accounts.list().map(accountInfo),
    account: (id) => accountInfo(state.accounts.get(id)),
    issueRefreshToken: (accountId) => state.accounts.issueRefreshToken(accountId),
    issueAccessToken: (accountId, opts = {}) => state.accounts.issueAccessToken(accountId, opts.expiresInSec).token,
    issueOAuthCredentials(accountId, opts = {}) {
      const access = state.accounts.issueAccessToken(accountId, opts.expiresInSec);
      const refreshToken = state.accounts.issueRefreshToken(accountId);
      return { accessToken: access.token, refreshToken, expiresAt: access.expiresAt };
    },
    expireAccessToken: (token) => state.accounts.expireAccessToken(token),
    revokeRefreshToken: (token) => state.accounts.revokeRefreshToken(token),
    createAuthorizationCode(accountId, params) {
      state.accounts.get(accountId);
      return state.codes.create(accountId, { ...params, redirectUri: params.redirectUri ?? resolved.redirectUri });
    },
    setUtilization: (accountId, update) => state.accounts.setUtilization(accountId, update),
    setTiming: (timing) => void Object.assign(state.timing, timing),
    usageTotals: (accountId) => state.ledger.totals(accountId),
    openRequests: () => server.openRequests(),
    inject: (fault) => state.faults.inject(fault),
    clearFaults: () => state.faults.clear(),
    reset() {
      state.recorder.clear();
      state.faults.clear();
      state.ledger.clear();
    },
    on<K extends keyof FakeAnthropicEvents>(event: K, listener: (payload: FakeAnthropicEvents[K]) => void) {
      emitter.on(event, listener);
      return () => void emitter.off(event, listener);
    },
  };
}
