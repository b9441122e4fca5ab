// Turning key option values into the admin API's body fields, with one-line errors.
import { UsageError } from '../cli-error.js';
import { stringFlag, type Flags } from '../command.js';

const UNIT_MS: Record<string, number> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const NO_LIMIT = new Set(['none', 'unlimited', 'off']);

/** A limit: a whole number above 0, or none. */
export function parseLimit(flag: string, value: string): number | null {
  if (NO_LIMIT.has(value.toLowerCase())) return null;
  if (/^\d+$/.test(value) && Number(value) > 0 && Number.isSafeInteger(Number(value))) return Number(value);
  throw new UsageError(`--${flag} expects a whole number above 0, or 'none'; got '${value}'`);
}

/** A budget in US dollars: above 0 with at most 6 decimals (a whole micro-dollar), a leading $ allowed, or none. */
export function parseUsd(flag: string, value: string): number | null {
  if (NO_LIMIT.has(value.toLowerCase())) return null;
  const digits = value.startsWith('$') ? value.slice(1) : value;
  if (/^\d+(\.\d{1,6})?$/.test(digits) && Number(digits) > 0 && Number(digits) <= 1e9) return Number(digits);
  throw new UsageError(
    `--${flag} expects US dollars above 0 with at most 6 decimals (e.g. 5 or 0.25), or 'none'; got '${value}'`,
  );
}

/** A comma-separated model list, or any. */
export function parseModels(value: string): string[] | null {
  if (value.toLowerCase() === 'any') return null;
  const models = value
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '');
  if (models.length === 0)
    throw new UsageError(`--models expects model ids separated by commas, or 'any'; got '${value}'`);
  return models;
}

/** anthropic-beta names as Anthropic spells them (the admin API checks the same). */
const BETA_RE = /^[A-Za-z0-9._-]{1,128}$/;

/** A comma-separated list of anthropic-beta values the key may send, 'any' for all, or 'none' for no beta at all. */
export function parseBetas(value: string): string[] | null {
  if (value.toLowerCase() === 'any') return null;
  if (value.toLowerCase() === 'none') return [];
  const betas = value
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b !== '');
  const bad = betas.find((b) => !BETA_RE.test(b));
  if (betas.length === 0 || bad !== undefined) {
    throw new UsageError(
      `--betas expects anthropic-beta names (letters, digits, . _ -) separated by commas, 'any' or 'none'; got '${bad ?? value}'`,
    );
  }
  return betas;
}

/** When a key expires: never, a span from now (30d, 12h, 2w, 90m), a UTC day, an ISO date-time, or epoch ms. */
export function parseExpiry(value: string, nowMs: number): number | string | null {
  if (value.toLowerCase() === 'never') return null;
  const span = /^(\d+)([mhdw])$/.exec(value);
  if (span) return nowMs + Number(span[1]) * (UNIT_MS[span[2] ?? ''] ?? 0);
  if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return `${value}T00:00:00Z`;
  if (/^\d{4}-\d{2}-\d{2}T/.test(value)) return value;
  if (/^\d{12,}$/.test(value)) return Number(value);
  throw new UsageError(
    `--expires expects 'never', a span like 30d or 12h, a day like 2026-01-31, or an ISO date-time; got '${value}'`,
  );
}

/** The key settings the flags give (only those given). */
export function keySettingsFromFlags(flags: Flags, nowMs: number): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  const name = stringFlag(flags, 'name');
  if (name !== undefined) body.name = name;
  for (const [flag, field] of [
    ['rpm', 'rpm'],
    ['concurrency', 'concurrency'],
    ['daily-tokens', 'dailyTokenBudget'],
  ] as const) {
    const value = stringFlag(flags, flag);
    if (value !== undefined) body[field] = parseLimit(flag, value);
  }
  for (const [flag, field] of [
    ['daily-usd', 'dailyUsdBudget'],
    ['monthly-usd', 'monthlyUsdBudget'],
  ] as const) {
    const value = stringFlag(flags, flag);
    if (value !== undefined) body[field] = parseUsd(flag, value);
  }
  const models = stringFlag(flags, 'models');
  if (models !== undefined) body.allowedModels = parseModels(models);
  const betas = stringFlag(flags, 'betas');
  if (betas !== undefined) body.allowedBetas = parseBetas(betas);
  const expires = stringFlag(flags, 'expires');
  if (expires !== undefined) body.expiresAt = parseExpiry(expires, nowMs);
  if (flags.enable === true && (flags.disable === true || flags.disabled === true))
    throw new UsageError('give --enable or --disable, not both');
  if (flags.enable === true) body.enabled = true;
  if (flags.disable === true || flags.disabled === true) body.enabled = false;
  return body;
}
