import { z } from 'zod';

const PORT_MESSAGE = 'must be a port number from 0 to 65535';

/** A TCP port number from the environment, with a default. */
export function port(defaultPort: number) {
  return z.coerce
    .number({ message: PORT_MESSAGE })
    .int(PORT_MESSAGE)
    .min(0, PORT_MESSAGE)
    .max(65535, PORT_MESSAGE)
    .default(defaultPort);
}

/** A TCP port number that may be left unset (the process decides what unset means). */
export function optionalPort() {
  return z.coerce
    .number({ message: PORT_MESSAGE })
    .int(PORT_MESSAGE)
    .min(0, PORT_MESSAGE)
    .max(65535, PORT_MESSAGE)
    .optional();
}

/**
 * Attaches the advice {@link loadConfig} prints after a variable's problem: how to fix it, and (for a
 * variable that is missing) what it must be. Found through `.default()` and `.optional()` wrappers.
 * @example
 * NODE_PUBLIC_URL: withHint(url(['http:', 'https:']), 'where the gateway reaches this node, e.g. http://10.0.0.5:8090')
 */
export function withHint<S extends z.ZodType>(schema: S, hint: string, requirement?: string): S {
  return schema.meta(requirement === undefined ? { hint } : { hint, requirement });
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

/** A secret: required, no default, at least `minBytes` long; a problem names how to generate one. */
export function secret(minBytes = 1) {
  const schema = z
    .string({ message: 'is required (a secret has no default)' })
    .refine((v) => Buffer.byteLength(v) >= minBytes, { message: `must be at least ${minBytes} bytes long` });
  return withHint(
    schema,
    `generate one with \`openssl rand -hex ${Math.max(16, minBytes)}\``,
    `at least ${minBytes} bytes`,
  );
}

/** The log levels every process accepts in LOG_LEVEL. */
export const LogLevelSchema = z.enum(['error', 'warn', 'info', 'http', 'debug']).default('info');
