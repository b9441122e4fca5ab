// The admin API's request bodies. Unknown fields are refused, so a typo ("rpn") is a 400, not a silent no-op.
import { z } from 'zod';

const limit = z.number().int().positive().nullable();
/** Epoch ms, or an ISO-8601 date-time with an offset (handier from curl); null = never expires. */
const expiresAt = z
  .union([z.number().int().positive(), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))])
  .nullable();
const allowedModels = z.array(z.string().trim().min(1).max(200)).min(1, 'list at least one model, or null for any').max(200).nullable();
const name = z.string().trim().min(1).max(200);

/** POST /admin/keys: a name and optional switches and limits (absent = unlimited / never / any). */
export const CreateKeyBodySchema = z.strictObject({
  name,
  enabled: z.boolean().default(true),
  expiresAt: expiresAt.default(null),
  allowedModels: allowedModels.default(null),
  rpm: limit.default(null),
  concurrency: limit.default(null),
  dailyTokenBudget: limit.default(null),
});
export type CreateKeyBody = z.infer<typeof CreateKeyBodySchema>;

/** PATCH /admin/keys/:id: any of the settable fields (null clears a limit), at least one. */
export const UpdateKeyBodySchema = z
  .strictObject({
    name: name.optional(),
    enabled: z.boolean().optional(),
    expiresAt: expiresAt.optional(),
    allowedModels: allowedModels.optional(),
    rpm: limit.optional(),
    concurrency: limit.optional(),
    dailyTokenBudget: limit.optional(),
  })
  .refine((body) => Object.values(body).some((v) => v !== undefined), 'give at least one field to change');
export type UpdateKeyBody = z.infer<typeof UpdateKeyBodySchema>;
