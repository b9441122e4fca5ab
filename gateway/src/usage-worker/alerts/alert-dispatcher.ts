// The 'alerts' queue's handler: an alert raised for the first time is put on the recent list and gets one
// delivery job per webhook URL; one raised before does nothing. Safe to retry at every step: the "raised"
// marker is set (with the recent list) only after the deliveries are queued, and a delivery's job id is fixed
// by the alert and the URL, so a dispatcher that dies half-way queues the rest on its next attempt and a
// delivery already queued is not queued twice.
import { UnrecoverableError } from 'bullmq';
import {
  JobCatalog,
  readJobPayload,
  type AlertEvent,
  type JobData,
  type Keyspace,
  type KeyValueStore,
  type Logger,
  type OnceStore,
} from '@switchyard/shared';
import { deliveryJobId, urlDigest } from '../../alerts/alert-ids.js';
import type { AlertMetrics } from './alert-metrics.js';

/** How long an alert id stays marked as raised: longer than a month, so a monthly budget's alerts stay once per month. */
export const ALERT_RAISED_TTL_SECONDS = 35 * 86_400;
/** Alerts kept on the recent list (GET /admin/alerts). */
export const RECENT_ALERTS_KEPT = 200;

export type DeliveryPayload = { event: AlertEvent; url: string };

/** The one Queue operation the dispatcher needs (BullMQ's Queue.add on JobCatalog.alertDelivery.queue). */
export interface DeliveryQueue {
  add(
    name: string,
    data: DeliveryPayload,
    opts: Omit<typeof JobCatalog.alertDelivery.defaults, 'backoff'> & {
      backoff: { type: 'exponential'; delay: number };
      jobId: string;
    },
  ): Promise<unknown>;
}

export interface AlertDispatcherDeps {
  store: Pick<KeyValueStore, 'get'> & Pick<OnceStore, 'writeOnce'>;
  keys: Pick<Keyspace, 'alertRaised' | 'alertsRecent'>;
  deliveries: DeliveryQueue;
  /** ALERT_WEBHOOK_URLS (none: alerts are recorded for /admin/alerts and the metrics only). */
  urls: readonly string[];
  log: Logger;
  metrics: AlertMetrics;
  /** The deliveries' first retry delay (doubling after). Default the catalog's; tests pass a short one. */
  deliveryBackoffMs?: number;
  recentKept?: number;
}

export interface AlertDispatcher {
  /** Handles one 'alerts' job; resolves true when the alert was raised now, false when it was raised before. */
  handle(data: JobData<'alert'>): Promise<boolean>;
}

/**
 * @example
 * const dispatcher = createAlertDispatcher({ store, keys, deliveries: new Queue(JobCatalog.alertDelivery.queue, { connection, prefix }), urls, log, metrics });
 * new Worker<JobData<'alert'>, boolean>(JobCatalog.alert.queue, (job) => dispatcher.handle(job.data), { connection, prefix });
 */
export function createAlertDispatcher(deps: AlertDispatcherDeps): AlertDispatcher {
  const { defaults } = JobCatalog.alertDelivery;
  const backoff = { type: 'exponential' as const, delay: deps.deliveryBackoffMs ?? defaults.backoff.delay };
  const keep = deps.recentKept ?? RECENT_ALERTS_KEPT;

  return {
    async handle(data) {
      const read = readJobPayload('alert', data);
      if (!read.ok) throw new UnrecoverableError(`alert payload is invalid (${read.problems})`);
      const event = read.payload;
      const marker = deps.keys.alertRaised(event.id);
      // 1. Raised before: its deliveries were queued then.
      if ((await deps.store.get(marker)) !== null) return false;
      // 2. One delivery per URL, by a fixed job id: a retry of this job re-adds nothing that is still queued.
      for (const url of deps.urls) {
        await deps.deliveries.add(
          'alertDelivery',
          { event, url },
          { ...defaults, backoff, jobId: deliveryJobId(event.id, url) },
        );
      }
      // 3. Raised: the marker and the recent list together.
      const raised = await deps.store.writeOnce({
        marker: { key: marker, ttlMs: ALERT_RAISED_TTL_SECONDS * 1000 },
        pushes: [{ key: deps.keys.alertsRecent(), value: JSON.stringify(event), keep }],
      });
      if (raised) {
        deps.metrics.raised(event.type);
        deps.log.info('alert raised', {
          alertId: event.id,
          type: event.type,
          keyId: event.keyId,
          nodeId: event.nodeId,
          deliveries: deps.urls.map(urlDigest),
        });
      }
      return raised;
    },
  };
}
