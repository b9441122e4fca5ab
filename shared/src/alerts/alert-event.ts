import { z } from 'zod';

/** What an alert is about (docs/ALERTS.md lists when each is raised). */
export const AlertTypeSchema = z.enum([
  /** A key crossed 50, 80 or 100 % of one of its budgets (once per threshold per period). */
  'budget_threshold',
  /** An account's login no longer works: a person must log in again. */
  'account_needs_login',
  /** An account is rate limited until a reset time. */
  'account_limited',
  /** A node left the fleet without draining. */
  'node_lost',
  /** Every account of the fleet is predicted to run out before its window resets. */
  'fleet_exhaustion',
  /** A usage job failed for good: a request's usage was not counted. */
  'usage_job_failed',
]);
export type AlertType = z.infer<typeof AlertTypeSchema>;

/** Ids are built from what the event is about (never random), so the same event raised twice is one alert. */
export const ALERT_ID_RE = /^[A-Za-z0-9_.:@-]{1,200}$/;

/**
 * One alert, as producers raise it and receivers get it (the webhook body). Never any prompt text, key or
 * token: ids, numbers and a sentence.
 */
export const AlertEventSchema = z.object({
  /** Stable per event: receivers drop duplicates by it (it is also the `webhook-id` header). */
  id: z.string().regex(ALERT_ID_RE),
  type: AlertTypeSchema,
  /** Epoch ms when it was raised. */
  at: z.number().int().nonnegative(),
  /** One sentence an operator can act on. */
  message: z.string().max(1000),
  keyId: z.string().optional(),
  nodeId: z.string().optional(),
  /** Figures of the event (budget, threshold, resetAt, …): scalars only. */
  data: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])).default({}),
});
export type AlertEvent = z.infer<typeof AlertEventSchema>;

/** Where a producer hands an event; must return at once (delivery happens off the request path). */
export interface AlertSink {
  emit(event: AlertEvent): void;
}

/** The sink of a process with no alerting configured. */
export const NO_ALERTS: AlertSink = { emit: () => undefined };
