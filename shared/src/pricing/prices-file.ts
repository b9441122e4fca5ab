// PRICES_FILE: prices an operator adds or overrides for private or new models (docs/COST.md). Read once at
// start; a file that does not parse stops the process with the file and the JSON path of the first problems.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { MatchLogic, ModelInfo } from '@pydantic/genai-prices';
import { z } from 'zod';

/** A rate in dollars per million tokens. */
const RateSchema = z.number().finite().nonnegative();

/** genai-prices' TieredPrices: `base` up to the first tier; a tier's price applies once the request's total input passes its `start`. */
const TieredRateSchema = z.strictObject({
  base: RateSchema,
  tiers: z.array(z.strictObject({ start: z.number().int().nonnegative(), price: RateSchema })).min(1),
});

const PriceSchema = z.union([RateSchema, TieredRateSchema], {
  error: 'must be dollars per million tokens (a number >= 0) or a tiered price { base, tiers: [{ start, price }] }',
});

/**
 * The price keys of Anthropic's usage, as genai-prices names them: `cache_write_mtok` is the 5-minute write,
 * `cache_write_1h_mtok` the 1-hour one. The library decides which tokens each key prices.
 */
export const ModelPricesSchema = z.strictObject({
  input_mtok: PriceSchema,
  output_mtok: PriceSchema,
  cache_write_mtok: PriceSchema.optional(),
  cache_write_1h_mtok: PriceSchema.optional(),
  cache_read_mtok: PriceSchema.optional(),
});

function isRegex(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

/** genai-prices' MatchLogic: which model names a price applies to (compared lower-cased, except `regex`). */
export const MatchLogicSchema: z.ZodType<MatchLogic> = z.lazy(() =>
  z.union([
    z.strictObject({ equals: z.string().min(1) }),
    z.strictObject({ starts_with: z.string().min(1) }),
    z.strictObject({ ends_with: z.string().min(1) }),
    z.strictObject({ contains: z.string().min(1) }),
    z.strictObject({ regex: z.string().min(1).refine(isRegex, 'must be a valid regular expression') }),
    z.strictObject({ or: z.array(MatchLogicSchema).min(1) }),
    z.strictObject({ and: z.array(MatchLogicSchema).min(1) }),
  ]),
);

export const PricesFileModelSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().optional(),
  match: MatchLogicSchema,
  prices: ModelPricesSchema,
});

/** The whole file: `{ "models": [ … ] }`. Its models are matched before genai-prices' own, in file order. */
export const PricesFileSchema = z.strictObject({ models: z.array(PricesFileModelSchema).min(1) });
export type PricesFile = z.infer<typeof PricesFileSchema>;

/** A PRICES_FILE that cannot be used: `path` is the JSON path of the (first) problem, `$` for the whole file. */
export class PricesFileError extends Error {
  override readonly name = 'PricesFileError';
  constructor(
    readonly file: string,
    readonly path: string,
    problem: string,
  ) {
    super(`PRICES_FILE ${file}: ${path}: ${problem}`);
  }
}

/** `models[0].match.or[1]` from zod's path. */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = '$';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `.${String(part)}`;
  return out;
}

/** The file read and checked: its models as genai-prices takes them, and the first 12 hex of its SHA-256. */
export interface LoadedPricesFile {
  models: ModelInfo[];
  sha256: string;
}

/** Reads and validates a PRICES_FILE. Throws PricesFileError naming the file and the JSON path. */
export function readPricesFile(file: string): LoadedPricesFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new PricesFileError(file, '$', `cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new PricesFileError(file, '$', `is not JSON (${(err as Error).message})`);
  }
  const parsed = PricesFileSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0];
    const more = parsed.error.issues.length - 1;
    throw new PricesFileError(
      file,
      jsonPath(first?.path ?? []),
      `${first?.message ?? 'invalid'}${more > 0 ? ` (and ${more} more problem${more === 1 ? '' : 's'})` : ''}`,
    );
  }
  return {
    models: parsed.data.models.map((m) => ({
      id: m.id,
      ...(m.name === undefined ? {} : { name: m.name }),
      match: m.match,
      prices: m.prices,
    })),
    sha256: createHash('sha256').update(bytes).digest('hex').slice(0, 12),
  };
}
