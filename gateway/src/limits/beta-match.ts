import type { IncomingHttpHeaders } from 'node:http';
import { AppError } from '@switchyard/shared';

// A value as it may appear in a message: what the client sent, cut short and without control characters.
function shown(value: string): string {
  const clean = value.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > 128 ? `${clean.slice(0, 128)}…` : clean;
}

/**
 * The 403 beta_not_allowed for a request whose `anthropic-beta` header names a value outside a key's
 * `allowed` list (exact names; null = any value), or undefined when it may run. The header is a comma-separated
 * list and may be sent more than once; every value must be allowed, and the first one that is not is named.
 * Betas change what a request costs on a shared account (a longer context, a pricier tool), hence per key.
 * @example
 * betaRefusal(['context-1m-2025-08-07'], { 'anthropic-beta': 'context-1m-2025-08-07' }); // undefined
 */
export function betaRefusal(allowed: readonly string[] | null, headers: IncomingHttpHeaders): AppError | undefined {
  if (allowed === null) return undefined;
  const header = headers['anthropic-beta'];
  if (header === undefined) return undefined;
  for (const line of typeof header === 'string' ? [header] : header) {
    for (const part of line.split(',')) {
      const value = part.trim();
      if (value === '' || allowed.includes(value)) continue;
      const may = allowed.length === 0 ? 'no anthropic-beta values' : `only ${allowed.join(', ')}`;
      return new AppError(
        'beta_not_allowed',
        `This API key may not use the anthropic-beta value "${shown(value)}" (it may use ${may}).`,
      );
    }
  }
  return undefined;
}
