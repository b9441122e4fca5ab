// The worker's alert settings, as zod fields for its config schema (config.ts reads them with the rest).
import { z } from 'zod';
import { withHint } from '@switchyard/shared';

const SECRET_PREFIX = 'whsec_';

function isHttpUrl(v: string): boolean {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:';
  } catch {
    return false;
  }
}

/** ALERT_WEBHOOK_URLS: comma-separated http(s) URLs (spaces around commas allowed); unset (undefined): no webhooks. */
export const AlertWebhookUrlsSchema = withHint(
  z
    .string()
    .transform((v) =>
      v
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
    .refine((urls) => urls.every(isHttpUrl), { message: 'must be http:// or https:// URLs separated by commas' })
    .refine((urls) => new Set(urls).size === urls.length, { message: 'lists a URL twice' })
    .optional(),
  'e.g. https://hooks.example.com/switchyard,https://ops.example.net/alerts',
);

/** Whether a Standard Webhooks secret is `whsec_` followed by base64 of at least 24 bytes. */
export function isWebhookSecret(v: string): boolean {
  if (!v.startsWith(SECRET_PREFIX)) return false;
  const b64 = v.slice(SECRET_PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64) || b64.length % 4 !== 0) return false;
  return Buffer.from(b64, 'base64').length >= 24;
}

/** ALERT_WEBHOOK_SECRET: the Standard Webhooks signing secret, `whsec_` + base64 (required when URLs are set). */
export const AlertWebhookSecretSchema = withHint(
  z
    .string()
    .refine(isWebhookSecret, { message: 'must be whsec_ followed by base64 of at least 24 random bytes' })
    .optional(),
  'generate one with `echo whsec_$(openssl rand -base64 32)`',
);

/** The cross-field rule: URLs need a secret to sign with. */
export function checkAlertConfig(
  c: { ALERT_WEBHOOK_URLS?: string[] | undefined; ALERT_WEBHOOK_SECRET?: string | undefined },
  ctx: z.RefinementCtx,
): void {
  if ((c.ALERT_WEBHOOK_URLS?.length ?? 0) > 0 && c.ALERT_WEBHOOK_SECRET === undefined) {
    ctx.addIssue({
      code: 'custom',
      path: ['ALERT_WEBHOOK_SECRET'],
      message:
        'is required when ALERT_WEBHOOK_URLS is set (every delivery is signed; generate one with `echo whsec_$(openssl rand -base64 32)`)',
    });
  }
}
