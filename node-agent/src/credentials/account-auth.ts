/** The account state a node publishes about its credential. */
export type AuthStatus = 'ok' | 'needs_login';

/** The one account a node holds, as the forwarding code and the fleet code see it. */
export interface AccountAuth {
  readonly kind: 'oauth' | 'api_key';
  /**
   * Credential headers for one upstream request: {authorization: 'Bearer …'} for OAuth, {'x-api-key': …} for API keys.
   * `token` identifies what was used. Waits for a refresh if the access token expired (single-flight).
   * Throws AppError('unavailable', …) when the account needs a login or no valid token can be had.
   */
  credentialHeaders(): Promise<{ headers: Record<string, string>; token: string }>;
  /**
   * Upstream answered 401 for `token` before its known expiry: refresh once (single-flight, shared with any running refresh).
   * Resolves true when a different, fresh token is now available (the caller replays once), false otherwise. API keys: always false.
   */
  refreshAfterUnauthorized(token: string): Promise<boolean>;
  /** 'ok' | 'needs_login' (OAuth only; API keys always 'ok'). */
  status(): AuthStatus;
  /** Account label for the registry: the email when known, else a masked hint (never the secret). */
  label(): string | undefined;
  /** Starts background refresh (OAuth). */
  start(): Promise<void>;
  /** Stops timers; waits for a running refresh to finish storing. */
  stop(): Promise<void>;
  /** Subscribe to status changes (needs_login etc.). Returns unsubscribe. */
  onStatusChange(listener: (status: AuthStatus) => void): () => void;
}
