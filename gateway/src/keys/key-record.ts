// A gateway key as stored in Redis (under its digest and under its id, the same JSON in both places).
import { z } from 'zod';

const epochMs = z.number().int().nonnegative();
const positiveLimit = z.number().int().positive().nullable();
/** The largest USD budget: its micro-dollars stay well inside a safe integer. */
export const MAX_USD_BUDGET = 1_000_000_000;

/** Whether a USD amount has at most 6 decimals (a whole number of micro-dollars). */
export function isWholeMicros(usd: number): boolean {
  return Number(usd.toFixed(6)) === usd;
}

/** A USD budget: positive, at most 6 decimals (whole micro-dollars), null = none. */
export const usdBudget = z
  .number()
  .positive()
  .max(MAX_USD_BUDGET)
  .refine(isWholeMicros, 'at most 6 decimals (a whole number of micro-dollars)')
  .nullable();

/** A USD amount in integer micro-dollars, as the usage counters hold cost. */
export function usdToMicros(usd: number): number {
  return Math.round(usd * 1_000_000);
}

/** A gateway user key: identity, switches and limits. Never holds the key itself, only its SHA-256 digest. */
export const KeyRecordSchema = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  /** SHA-256 hex of the key. */
  digest: z.string().regex(/^[0-9a-f]{64}$/),
  /** A form of the key that is safe to show, e.g. 'sy-AbCd…wxyz'. */
  hint: z.string(),
  enabled: z.boolean(),
  /** Epoch ms after which the key stops working; null = never. */
  expiresAt: epochMs.nullable(),
  /** Model ids the key may call (the limiter decides how a request's model matches); null = any. */
  allowedModels: z.array(z.string().min(1)).nullable(),
  /**
   * `anthropic-beta` values the key may send (exact names); null = any. Records written before this field
   * existed read as null.
   */
  allowedBetas: z
    .array(
      z
        .string()
        .min(1)
        .max(128)
        .regex(/^[A-Za-z0-9._-]+$/),
    )
    .nullable()
    .default(null),
  /** Requests per minute; null = unlimited. */
  rpm: positiveLimit,
  /** Concurrent requests; null = unlimited. */
  concurrency: positiveLimit,
  /** Tokens per UTC day; null = unlimited. */
  dailyTokenBudget: positiveLimit,
  /** USD per UTC day at API list prices (docs/BUDGETS.md); null = none. Records written before it existed read as null. */
  dailyUsdBudget: usdBudget.default(null),
  /** USD per UTC calendar month; null = none. Records written before it existed read as null. */
  monthlyUsdBudget: usdBudget.default(null),
  createdAt: epochMs,
  updatedAt: epochMs,
});
export type KeyRecord = z.infer<typeof KeyRecordSchema>;

/** What the admin API shows of a key: everything but the digest. */
export type KeyView = Omit<KeyRecord, 'digest'>;

/** The record without its digest. */
export function toKeyView(record: KeyRecord): KeyView {
  const { digest: _digest, ...view } = record;
  return view;
}

/** A stored record, or undefined when the value is not JSON or not a valid record. */
export function parseKeyRecord(raw: string): KeyRecord | undefined {
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return undefined;
  }
  const parsed = KeyRecordSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}
