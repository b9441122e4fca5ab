// The alerts' series on the worker's registry (registered beside the usage metrics, in a module of its own).
import { Counter, type Registry } from 'prom-client';
import { AlertTypeSchema, type AlertType } from '@switchyard/shared';

/** What became of one delivery attempt: taken by the receiver, failed with attempts left, failed for good. */
export type DeliveryOutcome = 'delivered' | 'retried' | 'failed';

export interface AlertMetrics {
  /** An alert was raised for the first time (its repeats are not counted). */
  raised(type: AlertType): void;
  delivery(outcome: DeliveryOutcome): void;
}

/**
 * @example
 * const alertMetrics = createAlertMetrics(metrics.registry);
 */
export function createAlertMetrics(registry: Registry): AlertMetrics {
  const registers = [registry];
  const raised = new Counter({
    name: 'switchyard_alerts_raised_total',
    help: 'Alerts raised, by type (each alert once, however often it was raised).',
    labelNames: ['type'],
    registers,
  });
  const deliveries = new Counter({
    name: 'switchyard_alert_deliveries_total',
    help: 'Webhook delivery attempts, by outcome: delivered (a 2xx), retried (failed; tried again with backoff), failed (no attempts left).',
    labelNames: ['outcome'],
    registers,
  });
  // Every series from the first scrape, so a rate() over them has a start.
  for (const type of AlertTypeSchema.options) raised.inc({ type }, 0);
  for (const outcome of ['delivered', 'retried', 'failed'] as const) deliveries.inc({ outcome }, 0);
  return {
    raised: (type) => raised.inc({ type }),
    delivery: (outcome) => deliveries.inc({ outcome }),
  };
}

/** For tests and processes without a registry. */
export const NO_ALERT_METRICS: AlertMetrics = { raised: () => undefined, delivery: () => undefined };
