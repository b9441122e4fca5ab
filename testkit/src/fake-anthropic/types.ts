// Public types of the fake Anthropic upstream (see docs/ANTHROPIC.md for the real service it imitates).

/** How an account authenticates upstream: a subscription login (OAuth) or a console API key. */
export type AccountKind = 'oauth' | 'api_key';

/** An account the fake knows from the start. */
export interface AccountSeed {
  id: string;
  kind?: AccountKind;
  email?: string;
  /** Only for api_key accounts; generated when absent. */
  apiKey?: string;
  /** A fixed initial refresh token (e.g. a short literal for a demo); tokens are otherwise issued on demand. */
  refreshToken?: string;
  /** A fixed initial access token, valid for accessTokenTtlSec. */
  accessToken?: string;
}

/** A known account as the fake sees it. */
export interface AccountInfo {
  id: string;
  kind: AccountKind;
  email: string;
  uuid: string;
  organizationUuid: string;
  apiKey?: string;
}

/** Pacing of responses; defaults are instant so tests stay fast. */
export interface Timing {
  /** Delay before the status line of every /v1/messages response. */
  firstByteDelayMs: number;
  /** Delay before each content_block_delta of a stream. */
  deltaIntervalMs: number;
  /** How many text_delta chunks the text block is split into. */
  textDeltas: number;
  /** The assistant's text; a function sees the parsed request body. */
  responseText?: string | ((body: unknown) => string);
  /**
   * With `tool_choice: {type: 'any'}`, call every tool listed (one tool_use block each, in order) instead of the
   * first, unless the request sets `disable_parallel_tool_use`. Default false.
   */
  parallelToolUse?: boolean;
}

/** Options of createFakeAnthropic. */
export interface FakeAnthropicOptions {
  /** Default: one oauth account 'acct-1'. */
  accounts?: AccountSeed[];
  /** Lifetime of issued access tokens. Default 28800 (8 h). */
  accessTokenTtlSec?: number;
  /** Lifetime of authorization codes. Default 600. */
  authCodeTtlSec?: number;
  timing?: Partial<Timing>;
  /** Default: Claude Code's client id. */
  clientId?: string;
  /** The paste-the-code redirect_uri. Default: https://platform.claude.com/oauth/code/callback */
  redirectUri?: string;
  /** Answer 400 when anthropic-version is missing, like the real API. Default true. */
  requireVersionHeader?: boolean;
  /** Prefixes shorter than this are not cached (the real API needs 1024+ tokens). Default 0. */
  minCacheableTokens?: number;
  /** Keep parsed bodies in `requests`. Default true; a long benchmark run turns it off. */
  recordBodies?: boolean;
  /** Most records kept (oldest dropped first). Default 10000. */
  recordLimit?: number;
  /** Larger bodies get 413 request_too_large. Default 32 MB. */
  maxBodyBytes?: number;
}

/** Route names used by records and fault matching. */
export type RouteName =
  'messages' | 'count_tokens' | 'models' | 'token' | 'authorize' | 'profile' | 'usage' | 'root' | 'not_found';

/** Which credential header a request carried. */
export type AuthKind = 'bearer' | 'api_key' | 'none';

/** One request as the fake received it. */
export interface RecordedRequest {
  requestId: string;
  route: RouteName;
  method: string;
  path: string;
  query: Record<string, string>;
  /** Lower-cased names; repeated headers joined with ', '. */
  headers: Record<string, string>;
  authKind: AuthKind;
  accessToken?: string;
  /** Set for x-api-key, and for a Bearer value that is a known API key. */
  apiKey?: string;
  accountId?: string;
  betas: string[];
  remoteAddress: string;
  sessionId?: string;
  bodyBytes: number;
  /** The parsed JSON body (undefined when absent, unparsable, or recordBodies is off). */
  body: unknown;
  receivedAt: number;
  /** The status sent, once the response started. */
  status?: number;
}

/** What the token endpoint made of a request. */
export type TokenOutcome = 'ok' | 'invalid_grant' | 'invalid_request' | 'unsupported_grant_type' | 'fault' | 'timeout';

/** One POST /v1/oauth/token. */
export interface TokenRequestRecord {
  grantType?: string;
  refreshToken?: string;
  code?: string;
  clientId?: string;
  accountId?: string;
  remoteAddress: string;
  outcome: TokenOutcome;
  status?: number;
  receivedAt: number;
}

/** Narrows which requests a fault applies to. Without `route`, /v1 faults hit 'messages' only. */
export interface FaultMatch {
  accountId?: string;
  route?: RouteName;
  /** Substring of the request's model (e.g. 'opus'). */
  model?: string;
}

interface FaultCommon {
  /** How many matching requests the fault hits. Default 1. */
  times?: number;
  match?: FaultMatch;
}

/** A fault a test injects; consumed by matching requests. */
export type Fault = FaultCommon &
  (
    | {
        kind: 'rate_limit';
        /** 'five_hour' (default), 'seven_day', or a model window such as 'seven_day_opus'. */
        window?: string;
        /** Shortcut for window `seven_day_<family>`. */
        modelFamily?: string;
        resetInSec?: number;
        retryAfterSec?: number;
      }
    | { kind: 'request_429'; retryAfterSec?: number }
    | { kind: 'overloaded' }
    | { kind: 'server_error'; status?: number }
    | { kind: 'reset_after_bytes'; bytes: number }
    | { kind: 'mid_stream_error'; afterEvents: number; errorType?: 'overloaded_error' | 'api_error' }
    /** A stream writes `afterEvents` events, then nothing more until the client hangs up (a turn being cancelled). */
    | { kind: 'stall_after_events'; afterEvents: number }
    | { kind: 'slow_first_byte'; delayMs: number }
    | { kind: 'token_error'; status: number }
    | { kind: 'token_timeout' }
    | { kind: 'token_invalid_grant' }
  );

/** The fault kinds. */
export type FaultKind = Fault['kind'];

/** Per-window utilization, as a fraction (1.0 = the limit; at or above it requests get 429). */
export interface UtilizationUpdate {
  fiveHour?: number;
  sevenDay?: number;
  /** Unix seconds. */
  fiveHourResetsAt?: number;
  sevenDayResetsAt?: number;
}

/** Usage the fake reported to clients. */
export interface UsageTotals {
  input: number;
  output: number;
  cacheCreation: number;
  cacheRead: number;
  /** Responses that reported usage (a message_start or a JSON message). */
  requests: number;
}

/** Emitted when a /v1/messages response ends, finished or not. */
export interface StreamClosedEvent {
  requestId: string;
  accountId?: string;
  stream: boolean;
  /** True when the whole response was written before the connection closed. */
  complete: boolean;
  eventsSent: number;
}

/** Events of the fake. */
export interface FakeAnthropicEvents {
  'stream-closed': StreamClosedEvent;
  /** Emitted once the body is read, before authentication fills accountId. */
  request: RecordedRequest;
  'token-request': TokenRequestRecord;
}

/** Fresh credentials for an oauth account, in the shapes the stores keep. */
export interface IssuedOAuthCredentials {
  accessToken: string;
  refreshToken: string;
  /** Epoch ms. */
  expiresAt: number;
}

/** A running (or startable) fake Anthropic upstream. */
export interface FakeAnthropic {
  start(options?: { port?: number; host?: string }): Promise<string>;
  /** Closes the listener and every open connection, streams included. */
  stop(): Promise<void>;
  /** The base URL; throws before start(). */
  readonly url: string;
  readonly requests: readonly RecordedRequest[];
  readonly tokenRequests: readonly TokenRequestRecord[];
  accounts(): AccountInfo[];
  account(id: string): AccountInfo;
  issueRefreshToken(accountId: string): string;
  issueAccessToken(accountId: string, options?: { expiresInSec?: number }): string;
  issueOAuthCredentials(accountId: string, options?: { expiresInSec?: number }): IssuedOAuthCredentials;
  expireAccessToken(token: string): void;
  revokeRefreshToken(token: string): void;
  createAuthorizationCode(
    accountId: string,
    params: { codeChallenge: string; state: string; redirectUri?: string },
  ): string;
  setUtilization(accountId: string, update: UtilizationUpdate): void;
  setTiming(timing: Partial<Timing>): void;
  usageTotals(accountId?: string): UsageTotals;
  /** Requests whose response has not closed yet: open streams, and any request still being read or answered. */
  openRequests(): number;
  inject(fault: Fault): void;
  clearFaults(): void;
  /** Forgets records, faults and usage totals (accounts, tokens and the prompt cache stay). */
  reset(): void;
  /** Subscribes; returns the unsubscribe function. */
  on<K extends keyof FakeAnthropicEvents>(event: K, listener: (payload: FakeAnthropicEvents[K]) => void): () => void;
}
