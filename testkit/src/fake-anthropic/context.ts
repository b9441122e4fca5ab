// The state route handlers share, and the per-request context the server hands them.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AccountStore } from './accounts.js';
import type { AuthorizationCodes } from './authorization-codes.js';
import type { FaultStore } from './faults.js';
import type { PromptCache } from './prompt-cache.js';
import type { Recorder, UsageLedger } from './records.js';
import type { FakeAnthropicEvents, RecordedRequest, RouteName, Timing } from './types.js';

/** Claude Code's OAuth client id (docs/ANTHROPIC.md §1). */
export const CLAUDE_CODE_CLIENT_ID = '9d1c250a-e61b-44d9-88ed-5944d1962f5e';
/** The paste-the-code redirect_uri (docs/ANTHROPIC.md §1). */
export const MANUAL_REDIRECT_URI = 'https://platform.claude.com/oauth/code/callback';
/** Scopes granted to every token. */
export const OAUTH_SCOPES = 'user:profile user:inference user:sessions:claude_code user:mcp_servers user:file_upload';

/** Options with their defaults applied. */
export interface ResolvedOptions {
  accessTokenTtlSec: number;
  authCodeTtlSec: number;
  clientId: string;
  redirectUri: string;
  requireVersionHeader: boolean;
  minCacheableTokens: number;
  recordBodies: boolean;
  recordLimit: number;
  maxBodyBytes: number;
}

/** Everything the handlers read and change. */
export interface FakeState {
  options: ResolvedOptions;
  timing: Timing;
  accounts: AccountStore;
  codes: AuthorizationCodes;
  cache: PromptCache;
  faults: FaultStore;
  ledger: UsageLedger;
  recorder: Recorder;
  emit<K extends keyof FakeAnthropicEvents>(event: K, payload: FakeAnthropicEvents[K]): void;
}

/** One request in flight. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  requestId: string;
  url: URL;
  route: RouteName;
  body: Buffer;
  /** The parsed JSON body, or undefined. */
  json: unknown;
  record: RecordedRequest;
  /** Aborts when the client goes away or the server stops. */
  signal: AbortSignal;
}
