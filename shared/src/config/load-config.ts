import type { z } from 'zod';

/** One problem found in the environment, named by its variable. */
export interface ConfigProblem {
  variable: string;
  message: string;
}

/** Thrown by {@link parseConfig}; carries every problem at once, so an operator fixes them in one go. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(formatProblems(problems));
  }
}

function formatProblems(problems: readonly ConfigProblem[]): string {
  const n = problems.length;
  const lines = problems.map((p) => `  - ${p.variable}: ${p.message}`);
  return [`Configuration is invalid (${n} problem${n === 1 ? '' : 's'}):`, ...lines].join('\n');
}

type Env = Readonly<Record<string, string | undefined>>;

/** Empty strings count as unset: `FOO=` in an .env file must not satisfy a required variable. */
function withoutEmpty(env: Env): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined && v.trim() !== '') out[k] = v;
  return out;
}

interface Hint {
  hint?: string;
  requirement?: string;
}

/** The advice `withHint` put on a field, looked up through its wrappers (default, optional, …). */
function hintOf(schema: z.ZodType, variable: string): Hint {
  const shape = (schema as { shape?: Record<string, z.ZodType | undefined> }).shape;
  let field: z.ZodType | undefined = shape?.[variable];
  for (let depth = 0; field !== undefined && depth < 5; depth++) {
    const meta = field.meta();
    if (typeof meta?.hint === 'string')
      return { hint: meta.hint, ...(typeof meta.requirement === 'string' ? { requirement: meta.requirement } : {}) };
    field = (field.def as { innerType?: z.ZodType }).innerType;
  }
  return {};
}

function describeIssue(schema: z.ZodType, issue: z.core.$ZodIssue, env: Record<string, string>): ConfigProblem {
  const variable = issue.path.map(String).join('.') || '(environment)';
  const missing = issue.code === 'invalid_type' && env[variable] === undefined;
  const { hint, requirement } = hintOf(schema, variable);
  if (missing) {
    const advice = [requirement, hint].filter((a) => a !== undefined).join('; ');
    return { variable, message: advice === '' ? 'is required but not set' : `is required but not set (${advice})` };
  }
  return { variable, message: hint === undefined ? issue.message : `${issue.message} (${hint})` };
}

/**
 * Parses the environment against a zod object schema whose keys are the variable names.
 * Returns the typed config or throws a {@link ConfigError} listing every problem.
 *
 * @example
 * const config = parseConfig(z.object({ PORT: port(8080) }), { PORT: '9000' }); // { PORT: 9000 }
 */
export function parseConfig<S extends z.ZodType>(schema: S, env: Env): z.infer<S> {
  const clean = withoutEmpty(env);
  const result = schema.safeParse(clean);
  if (result.success) return result.data;
  throw new ConfigError(result.error.issues.map((issue) => describeIssue(schema, issue, clean)));
}

/** Where {@link loadConfig} reports and how it stops; injectable so tests need not exit. */
export interface LoadConfigIo {
  exit(code: number): never;
  writeError(text: string): void;
}

const processIo: LoadConfigIo = {
  exit: (code) => process.exit(code),
  writeError: (text) => process.stderr.write(text),
};

/**
 * The composition roots' entry point: typed config, or one message listing every problem on stderr and exit 1.
 * Secrets in a schema have no defaults, so a missing secret always stops the process here.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: Env, io: LoadConfigIo = processIo): z.infer<S> {
  try {
    return parseConfig(schema, env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    io.writeError(`${err.message}\n`);
    return io.exit(1);
  }
}
