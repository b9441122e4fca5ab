// Accounts and their credentials: access tokens, rotating refresh tokens, API keys, usage windows.
import { randomUUID } from 'node:crypto';
import { newApiKey, newOAuthToken } from './ids.js';
import type { WindowState } from './rate-limit-headers.js';
import type { AccountInfo, AccountSeed, UtilizationUpdate } from './types.js';

/** An account plus the mutable state the fake keeps for it. */
export interface AccountState extends AccountInfo {
  fiveHour: WindowState;
  sevenDay: WindowState;
  minuteStart: number;
  requestsThisMinute: number;
}

/** What an access token resolves to. */
export interface AccessTokenLookup {
  account: AccountState;
  expired: boolean;
}

/** The outcome of a successful refresh: the old refresh token is dead from now on. */
export interface RotatedTokens {
  account: AccountState;
  accessToken: string;
  refreshToken: string;
  expiresIn: number;
}

/** Credentials and accounts of the fake. */
export interface AccountStore {
  get(id: string): AccountState;
  list(): AccountState[];
  findByApiKey(key: string): AccountState | undefined;
  lookupAccessToken(token: string): AccessTokenLookup | undefined;
  accountForRefreshToken(token: string): AccountState | undefined;
  issueAccessToken(accountId: string, expiresInSec?: number): { token: string; expiresAt: number };
  issueRefreshToken(accountId: string): string;
  expireAccessToken(token: string): void;
  revokeRefreshToken(token: string): void;
  rotateRefreshToken(token: string): RotatedTokens | undefined;
  setUtilization(accountId: string, update: UtilizationUpdate): void;
  /** Rolls windows whose reset has passed, then returns the account. */
  current(accountId: string): AccountState;
}

const FIVE_HOURS = 5 * 3600;
const SEVEN_DAYS = 7 * 86400;

function seedAccount(seed: AccountSeed, nowSec: number): AccountState {
  const kind = seed.kind ?? 'oauth';
  const hour = Math.ceil(nowSec / 3600) * 3600;
  const account: AccountState = {
    id: seed.id,
    kind,
    email: seed.email ?? `${seed.id}@example.test`,
    uuid: randomUUID(),
    organizationUuid: randomUUID(),
    fiveHour: { utilization: 0.1, resetsAt: hour + 4 * 3600 },
    sevenDay: { utilization: 0.2, resetsAt: hour + 6 * 86400 },
    minuteStart: 0,
    requestsThisMinute: 0,
  };
  if (kind === 'api_key') account.apiKey = seed.apiKey ?? newApiKey();
  return account;
}

function rollWindow(window: WindowState, lengthSec: number, nowSec: number): void {
  if (window.resetsAt > nowSec) return;
  const periods = Math.ceil((nowSec - window.resetsAt + 1) / lengthSec);
  window.resetsAt += periods * lengthSec;
  window.utilization = 0;
}

function applyUtilization(account: AccountState, update: UtilizationUpdate): void {
  if (update.fiveHour !== undefined) account.fiveHour.utilization = update.fiveHour;
  if (update.sevenDay !== undefined) account.sevenDay.utilization = update.sevenDay;
  if (update.fiveHourResetsAt !== undefined) account.fiveHour.resetsAt = update.fiveHourResetsAt;
  if (update.sevenDayResetsAt !== undefined) account.sevenDay.resetsAt = update.sevenDayResetsAt;
}

/** Creates the account store; `now` is injectable so expiry can be tested without waiting. */
export function createAccountStore(
  seeds: AccountSeed[],
  options: { accessTokenTtlSec: number; now?: () => number },
): AccountStore {
  const now = options.now ?? Date.now;
  const accounts = new Map<string, AccountState>();
  const accessTokens = new Map<string, { accountId: string; expiresAt: number }>();
  const refreshTokens = new Map<string, string>();
  const apiKeys = new Map<string, string>();

  function get(id: string): AccountState {
    const account = accounts.get(id);
    if (!account) throw new Error(`fake-anthropic: unknown account ${id}`);
    return account;
  }

  function issueAccessToken(accountId: string, expiresInSec = options.accessTokenTtlSec, fixed?: string) {
    get(accountId);
    const token = fixed ?? newOAuthToken('oat');
    const expiresAt = now() + expiresInSec * 1000;
    accessTokens.set(token, { accountId, expiresAt });
    return { token, expiresAt };
  }

  function issueRefreshToken(accountId: string, fixed?: string): string {
    const account = get(accountId);
    if (account.kind !== 'oauth') throw new Error(`fake-anthropic: ${accountId} is not an oauth account`);
    const token = fixed ?? newOAuthToken('ort');
    refreshTokens.set(token, accountId);
    return token;
  }

  for (const seed of seeds) {
    if (accounts.has(seed.id)) throw new Error(`fake-anthropic: duplicate account ${seed.id}`);
    const account = seedAccount(seed, Math.floor(now() / 1000));
    accounts.set(account.id, account);
    if (account.apiKey) apiKeys.set(account.apiKey, account.id);
    if (seed.refreshToken) issueRefreshToken(account.id, seed.refreshToken);
    if (seed.accessToken) issueAccessToken(account.id, undefined, seed.accessToken);
  }

  return {
    get,
    list: () => [...accounts.values()],
    findByApiKey: (key) => {
      const id = apiKeys.get(key);
      return id === undefined ? undefined : get(id);
    },
    lookupAccessToken: (token) => {
      const entry = accessTokens.get(token);
      if (!entry) return undefined;
      return { account: get(entry.accountId), expired: entry.expiresAt <= now() };
    },
    accountForRefreshToken: (token) => {
      const id = refreshTokens.get(token);
      return id === undefined ? undefined : get(id);
    },
    issueAccessToken: (accountId, expiresInSec) => issueAccessToken(accountId, expiresInSec),
    issueRefreshToken: (accountId) => issueRefreshToken(accountId),
    expireAccessToken: (token) => {
      const entry = accessTokens.get(token);
      if (entry) entry.expiresAt = now() - 1;
    },
    revokeRefreshToken: (token) => {
      refreshTokens.delete(token);
    },
    rotateRefreshToken: (token) => {
      const accountId = refreshTokens.get(token);
      if (accountId === undefined) return undefined;
      // Rotation: the presented token dies before the new pair exists, so a concurrent reuse loses.
      refreshTokens.delete(token);
      const access = issueAccessToken(accountId);
      return {
        account: get(accountId),
        accessToken: access.token,
        refreshToken: issueRefreshToken(accountId),
        expiresIn: options.accessTokenTtlSec,
      };
    },
    setUtilization: (accountId, update) => applyUtilization(get(accountId), update),
    current: (accountId) => {
      const account = get(accountId);
      const nowSec = Math.floor(now() / 1000);
      rollWindow(account.fiveHour, FIVE_HOURS, nowSec);
      rollWindow(account.sevenDay, SEVEN_DAYS, nowSec);
      return account;
    },
  };
}
