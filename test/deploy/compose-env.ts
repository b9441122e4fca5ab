// Reading the deployment files the way Docker Compose and an operator do: compose files parsed as YAML
// (merge keys on, as Compose has them), `${VAR…}` interpolation, durations, and .env.example's lines.
// Pure functions over file text, shared by compose.test.ts and env-example.test.ts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { z } from 'zod';

export const REPO_ROOT = join(__dirname, '..', '..');

export function readRepoFile(path: string): string {
  return readFileSync(join(REPO_ROOT, path), 'utf8');
}

export interface Healthcheck {
  test?: string[] | string;
  interval?: string;
  timeout?: string;
  start_period?: string;
  retries?: number;
}

export interface ComposeService {
  image?: string;
  build?: { context?: string; dockerfile?: string; args?: Record<string, string> };
  command?: string[];
  profiles?: string[];
  restart?: string;
  init?: boolean;
  stop_grace_period?: string;
  depends_on?: Record<string, { condition?: string }>;
  environment?: Record<string, string>;
  ports?: string[];
  /** The short form (a list of network names): the stack uses no other. */
  networks?: string[];
  volumes?: string[];
  labels?: Record<string, string>;
  healthcheck?: Healthcheck;
}

export interface ComposeFile {
  name?: string;
  services: Record<string, ComposeService>;
  networks?: Record<string, unknown>;
  volumes?: Record<string, unknown>;
}

/** A compose file as Compose reads it: YAML with `<<` merge keys resolved (the anchors become plain maps). */
export function parseCompose(text: string): ComposeFile {
  return parse(text, { merge: true }) as ComposeFile;
}

/** One `${NAME}`, `${NAME:-default}` or `${NAME:?message}` in a compose value. */
export interface Interpolation {
  name: string;
  /** '' for a bare `${NAME}`. */
  op: '' | ':-' | '-' | ':?' | '?';
  arg: string;
  raw: string;
}

const INTERPOLATION = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:-|-|:\?|\?)([^}]*))?\}/g;

export function interpolations(value: string): Interpolation[] {
  return [...value.matchAll(INTERPOLATION)].map((m) => ({
    name: m[1]!,
    op: (m[2] ?? '') as Interpolation['op'],
    arg: m[3] ?? '',
    raw: m[0],
  }));
}

/** Every interpolation anywhere in a compose file's text (comments skipped). */
export function interpolationsIn(text: string): Interpolation[] {
  const code = text
    .split('\n')
    .filter((line) => !line.trimStart().startsWith('#'))
    .join('\n');
  return interpolations(code);
}

/** What Compose makes of a value with `env` as its .env: defaults applied, a missing required value an error. */
export function interpolate(value: string, env: Record<string, string>): string {
  return value.replace(INTERPOLATION, (_raw, name: string, op: string | undefined, arg: string | undefined) => {
    const set = env[name];
    const empty = set === undefined || set === '';
    switch (op) {
      case ':-':
        return empty ? (arg ?? '') : set;
      case '-':
        return set ?? arg ?? '';
      case ':?':
        if (empty) throw new Error(`required variable ${name} is missing a value: ${arg ?? ''}`);
        return set;
      case '?':
        if (set === undefined) throw new Error(`required variable ${name} is missing a value: ${arg ?? ''}`);
        return set;
      default:
        return set ?? '';
    }
  });
}

/** A line of .env.example: `KEY=value` (set) or `# KEY=value` (commented out: the default shown). */
export interface EnvExampleEntry {
  key: string;
  value: string;
  commented: boolean;
}

export interface EnvExample {
  entries: Map<string, EnvExampleEntry>;
  /** Keys named in the "set by docker-compose.yml" list (`#   KEY   what it is set to`). */
  fixed: Set<string>;
  /** Keys that appear twice as assignments (each variable is documented once). */
  duplicates: string[];
}

export function parseEnvExample(text: string): EnvExample {
  const entries = new Map<string, EnvExampleEntry>();
  const fixed = new Set<string>();
  const duplicates: string[] = [];
  for (const line of text.split('\n')) {
    const assignment = /^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (assignment) {
      const key = assignment[2]!;
      if (entries.has(key)) duplicates.push(key);
      entries.set(key, { key, value: assignment[3]!, commented: assignment[1] !== undefined });
      continue;
    }
    const listed = /^#\s+([A-Z][A-Z0-9_]*)\s{2,}\S/.exec(line);
    if (listed) fixed.add(listed[1]!);
  }
  return { entries, fixed, duplicates };
}

/** A config schema variable's default: a value, 'optional' (no default, may stay unset) or 'required'. */
export type SchemaDefault = { kind: 'value'; value: string } | { kind: 'optional' } | { kind: 'required' };

export function schemaDefault(field: z.ZodType): SchemaDefault {
  const parsed = field.safeParse(undefined);
  if (!parsed.success) return { kind: 'required' };
  const value: unknown = parsed.data;
  if (value === undefined) return { kind: 'optional' };
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean')
    throw new Error(`an environment default that is not a scalar: ${JSON.stringify(value)}`);
  return { kind: 'value', value: String(value) };
}

/**
 * The variables of `keys` that .env.example does not document, either as a line of their own (set or
 * commented out) or in its list of variables the compose file sets.
 */
export function undocumented(keys: Iterable<string>, example: EnvExample): string[] {
  return [...keys].filter((k) => !example.entries.has(k) && !example.fixed.has(k));
}

/** The variables of `keys` that a service's environment section does not pass to its container. */
export function notPassed(
  keys: Iterable<string>,
  service: ComposeService,
  except: ReadonlySet<string> = new Set(),
): string[] {
  const env = service.environment ?? {};
  return [...keys].filter((k) => !except.has(k) && !(k in env));
}
