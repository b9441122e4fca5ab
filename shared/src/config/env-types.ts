import { z } from 'zod';

/** A TCP port number from the environment, with a default. */
export function port(defaultPort: number) {
  return z.coerce.number().int().min(0).max(65535).default(defaultPort);
}

/** A whole number from the environment, with bounds and a default. */
export function integer(defaultValue: number, opts: { min?: number; max?: number } = {}) {
  return z.coerce
    .number()
    .int()
    .min(opts.min ?? Number.MIN_SAFE_INTEGER)
    .max(opts.max ?? Number.MAX_SAFE_INTEGER)
    .default(defaultValue);
}

/** A boolean flag: true/false, 1/0, yes/no, on/off. */
export function flag(defaultValue: boolean) {
  return z
    .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { message: 'must be true or false' })
    .transform((v) => ['true', '1', 'yes', 'on'].includes(v))
    .default(defaultValue);
}

/** A URL with one of the given schemes (e.g. ['redis:', 'rediss:']). */
export function url(protocols: readonly string[]) {
  return z.string().refine(
    (v) => {
      try {
        return protocols.includes(new URL(v).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );
}

/** A secret: required, no default, at least `minBytes` long. */
export function secret(minBytes = 1) {
  return z
    .string({ message: 'is required (a secret has no default)' })
    .refine((v) => Buffer.byteLength(v) >= minBytes, { message: `must be at least ${minBytes} bytes long` });
}

/** The log levels every process accepts in LOG_LEVEL. */
export const LogLevelSchema = z.enum(['error', 'warn', 'info', 'http', 'debug']).default('info');
