// One delivery attempt of one alert to one webhook URL, in the Standard Webhooks format: the event's JSON,
// signed with ALERT_WEBHOOK_SECRET (HMAC-SHA256 over `id.timestamp.body`). `webhook-id` is the alert's id on
// every attempt, so a receiver drops the repeats of an event it took; the timestamp is the attempt's (receivers
// refuse old ones). Anything but a 2xx within the timeout throws, and BullMQ tries again with backoff.
import { UnrecoverableError } from 'bullmq';
import { Webhook } from 'standardwebhooks';
import { errorCode, readJobPayload, type JobData, type Logger } from '@switchyard/shared';
import { urlDigest } from '../../alerts/alert-ids.js';
import type { DeliveryPayload } from './alert-dispatcher.js';
import type { AlertMetrics } from './alert-metrics.js';

export const DELIVERY_TIMEOUT_MS = 10_000;

export interface WebhookDeliveryDeps {
  /** ALERT_WEBHOOK_SECRET, `whsec_` and base64. */
  secret: string;
  log: Logger;
  metrics: AlertMetrics;
  /** Default DELIVERY_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Epoch ms, for the timestamp. Default Date.now. */
  now?: () => number;
  /** Default the global fetch. */
  fetch?: typeof fetch;
}

/** Which attempt this is (1 = the first) of how many. */
export interface DeliveryAttempt {
  attempt: number;
  attempts: number;
}

export interface WebhookDelivery {
  /** Resolves when the receiver answered 2xx; throws otherwise (UnrecoverableError for a payload that can never be sent). */
  deliver(data: JobData<'alertDelivery'>, attempt: DeliveryAttempt): Promise<void>;
}

/** A delivery answered with a status other than 2xx (the receiver's body is not kept). */
export class WebhookRejectedError extends Error {
  override readonly name = 'WebhookRejectedError';
  constructor(readonly status: number) {
    super(`webhook answered ${status}`);
  }
}

function parsePayload(data: JobData<'alertDelivery'>): DeliveryPayload {
  const read = readJobPayload('alertDelivery', data);
  if (!read.ok) throw new UnrecoverableError(`alert delivery payload is invalid (${read.problems})`);
  return read.payload;
}

/** A failure's class and code (fetch puts the socket's code on its cause), never a message that could quote the URL. */
function failureReason(err: unknown): string {
  if (err instanceof WebhookRejectedError) return err.message;
  if (!(err instanceof Error)) return 'unknown';
  // A DOMException's `code` is a number (23 for a timeout): only a socket's string code says more than the name.
  const code = errorCode(err, { throughCauses: true });
  return code === undefined ? err.name : `${err.name} ${code}`;
}

/** Where a URL points, for logs: its origin only (a webhook's path or query often carries its own secret). */
function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid)';
  }
}

/**
 * @example
 * const delivery = createWebhookDelivery({ secret: config.ALERT_WEBHOOK_SECRET, log, metrics });
 * new Worker<JobData<'alertDelivery'>>(JobCatalog.alertDelivery.queue, (job) => delivery.deliver(job.data, { attempt: job.attemptsMade + 1, attempts: job.opts.attempts ?? 1 }), { connection, prefix });
 */
export function createWebhookDelivery(deps: WebhookDeliveryDeps): WebhookDelivery {
  const signer = new Webhook(deps.secret);
  const now = deps.now ?? Date.now;
  const send = deps.fetch ?? fetch;
  const timeoutMs = deps.timeoutMs ?? DELIVERY_TIMEOUT_MS;

  return {
    async deliver(data, { attempt, attempts }) {
      const { event, url } = parsePayload(data);
      const body = JSON.stringify(event);
      const at = new Date(now());
      const fields = {
        alertId: event.id,
        type: event.type,
        webhook: originOf(url),
        urlId: urlDigest(url),
        attempt,
        attempts,
      };
      let status: number | undefined;
      try {
        const res = await send(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'switchyard-alerts',
            'webhook-id': event.id,
            'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
            'webhook-signature': signer.sign(event.id, at, body),
          },
          body,
          // A redirect is not followed: the signed body goes to the URL the operator configured, nowhere else.
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        });
        status = res.status;
        // The body is not needed; reading it frees the connection.
        await res.arrayBuffer().catch(() => undefined);
        if (status < 200 || status > 299) throw new WebhookRejectedError(status);
      } catch (err) {
        const final = attempt >= attempts;
        deps.metrics.delivery(final ? 'failed' : 'retried');
        const line = { ...fields, status, reason: failureReason(err) };
        if (final) deps.log.error('alert delivery failed for good', line);
        else deps.log.warn('alert delivery failed; retried with backoff', line);
        throw err;
      }
      deps.metrics.delivery('delivered');
      deps.log.info('alert delivered', { ...fields, status });
    },
  };
}
