// The admin API's request bodies and query strings. Unknown fields are refused, so a typo ("rpn") is a 400, not a silent no-op.
import { z } from 'zod';
import { RECENT_REQUESTS_KEPT } from '@switchyard/shared';
import { usdBudget } from '../keys/index.js';
import { NODE_ID_RE } from '../nodes/index.js';

const limit = z.number().int().positive().nullable();
/** Epoch ms, or an ISO-8601 date-time with an offset (handier from curl); null = never expires. */
const expiresAt = z
  .union([z.number().int().positive(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))])
  .nullable();
const allowedModels = z
  .array(z.string().trim().min(1).max(200))
  .min(1, 'list at least one model, or null for any')
  .max(200)
  .nullable();
/** anthropic-beta values, exact names as Anthropic spells them (e.g. context-1m-2025-08-07); null = any. */
const allowedBetas = z
  .array(
    z
      .string()
      .trim()
      .min(1)
      .max(128)
      .regex(/^[A-Za-z0-9._-]+$/, 'a beta name: letters, digits, . _ -'),
  )
  .max(100)
  .nullable()
  .describe('`anthropic-beta` values the key may send, exact names (e.g. context-1m-2025-08-07); null: any; []: none.');
const name = z.string().trim().min(1).max(200);
const dailyUsd = usdBudget.describe(
  'USD per UTC day at API list prices, at most 6 decimals (e.g. 5 or 0.25); null: none. Over it a request is refused with 429 (docs/BUDGETS.md).',
);
const monthlyUsd = usdBudget.describe(
  'USD per UTC calendar month at API list prices, at most 6 decimals; null: none. Over it a request is refused with 429 (docs/BUDGETS.md).',
);

/** POST /admin/keys: a name and optional switches and limits (absent = unlimited / never / any). */
export const CreateKeyBodySchema = z.strictObject({
  name,
  enabled: z.boolean().default(true),
  expiresAt: expiresAt.default(null),
  allowedModels: allowedModels.default(null),
  allowedBetas: allowedBetas.default(null),
  rpm: limit.default(null),
  concurrency: limit.default(null),
  dailyTokenBudget: limit.default(null),
  dailyUsdBudget: dailyUsd.default(null),
  monthlyUsdBudget: monthlyUsd.default(null),
});
export type CreateKeyBody = z.infer<typeof CreateKeyBodySchema>;

/** PATCH /admin/keys/:id: any of the settable fields (null clears a limit), at least one. */
export const UpdateKeyBodySchema = z
  .strictObject({
    name: name.optional(),
    enabled: z.boolean().optional(),
    expiresAt: expiresAt.optional(),
    allowedModels: allowedModels.optional(),
    allowedBetas: allowedBetas.optional(),
    rpm: limit.optional(),
    concurrency: limit.optional(),
    dailyTokenBudget: limit.optional(),
    dailyUsdBudget: dailyUsd.optional(),
    monthlyUsdBudget: monthlyUsd.optional(),
  })
  .refine((body) => Object.values(body).some((v) => v !== undefined), 'give at least one field to change');
export type UpdateKeyBody = z.infer<typeof UpdateKeyBodySchema>;

/** POST /admin/nodes: the node's id (its NODE_ID) and an optional label for people. */
export const EnrolNodeBodySchema = z.strictObject({
  id: z.string().regex(NODE_ID_RE, "expected 1-64 letters, digits, _ . or - (the node's NODE_ID)"),
  label: z.string().trim().min(1).max(200).optional(),
});
export type EnrolNodeBody = z.infer<typeof EnrolNodeBodySchema>;

/** The longest range GET /admin/usage answers, in days (both ends included): a year, leap day included. */
export const MAX_USAGE_RANGE_DAYS = 366;

/** A UTC calendar day `YYYY-MM-DD` that exists (2025-02-30 does not). */
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'expected a day as YYYY-MM-DD')
  .refine((s) => {
    const ms = Date.parse(`${s}T00:00:00Z`);
    return Number.isFinite(ms) && new Date(ms).toISOString().slice(0, 10) === s;
  }, 'not a calendar day');

/** The dimensions GET /admin/usage groups by. */
export const USAGE_GROUPINGS = ['key', 'node', 'model', 'day'] as const;
export type UsageGrouping = (typeof USAGE_GROUPINGS)[number];

/** GET /admin/usage query. Absent days are resolved against today by the route (to = today, from = to - 6). */
export const UsageQuerySchema = z.strictObject({
  by: z.enum(USAGE_GROUPINGS).default('day'),
  from: day.optional(),
  to: day.optional(),
});
export type UsageQuery = z.infer<typeof UsageQuerySchema>;

/** How many entries GET /admin/usage/recent answers without a limit. */
export const DEFAULT_RECENT_LIMIT = 50;

/** GET /admin/usage/recent query: how many of the newest entries, 1..RECENT_REQUESTS_KEPT. */
export const RecentUsageQuerySchema = z.strictObject({
  limit: z
    .string()
    .regex(/^\d+$/, 'expected a whole number')
    .transform(Number)
    .pipe(z.number().int().min(1).max(RECENT_REQUESTS_KEPT))
    .default(DEFAULT_RECENT_LIMIT),
});
export type RecentUsageQuery = z.infer<typeof RecentUsageQuerySchema>;
