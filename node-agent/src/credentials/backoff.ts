/** Exponential backoff bounds. */
export interface BackoffPolicy {
  /** Delay before the first retry (before jitter). */
  baseMs: number;
  /** No delay exceeds this, a server's retry-after included. */
  maxMs: number;
}

/**
 * The delay before retry number `attempt` (1-based): base·2^(attempt-1), capped, with "equal jitter"
 * (half fixed, half random) so a fleet that failed together does not retry together. A server's
 * retry-after is honoured as a floor, within the cap.
 */
export function backoffDelay(
  attempt: number,
  policy: BackoffPolicy,
  random: () => number,
  retryAfterMs?: number,
): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
  const jittered = exponential / 2 + (random() * exponential) / 2;
  return Math.round(Math.min(policy.maxMs, Math.max(jittered, retryAfterMs ?? 0)));
}
