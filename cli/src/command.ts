// What a command is, and how a command line is checked against it (node:util parseArgs, with one-line errors).
import { parseArgs } from 'node:util';
import type { AdminClient } from './admin-client.js';
import { UsageError } from './cli-error.js';

/** One option of a command. */
export interface OptionSpec {
  type: 'string' | 'boolean';
  /** The value's placeholder in help, e.g. 'N'. */
  value?: string;
  short?: string;
  help: string;
}

export type Flags = Record<string, string | boolean | undefined>;

/** What a running command gets. */
export interface CommandContext {
  /** The positional arguments after the command's name. */
  args: string[];
  flags: Flags;
  /** --json: print the API's JSON as it came. */
  json: boolean;
  /** The admin API client (asks for the URL and token only when a command needs it). */
  client(): AdminClient;
  print(line?: string): void;
  /** A line for the operator on stderr, apart from the output a script would capture (e.g. "shown once"). */
  note(line: string): void;
  printJson(value: unknown): void;
  nowMs: number;
}

/** A command: `name` is its words (`keys create`). */
export interface Command {
  name: string;
  /** Its positional arguments in usage form, e.g. '<id>'. */
  args: string;
  minArgs: number;
  maxArgs: number;
  /** A few words for the command list. */
  brief: string;
  summary: string;
  details?: string[];
  options: Record<string, OptionSpec>;
  /** Runs without the admin API (no --url/--token/--json). */
  local?: true;
  run(ctx: CommandContext): Promise<number | void>;
}

/** Options every admin command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: 'string',
    value: 'URL',
    help: "The gateway's admin API (env SWITCHYARD_URL; default http://127.0.0.1:8080; a gateway with ADMIN_PORT set serves it there, e.g. http://127.0.0.1:9090)",
  },
  token: {
    type: 'string',
    value: 'TOKEN',
    help: 'The admin token, or the read-only token for the read commands (env SWITCHYARD_ADMIN_TOKEN, ADMIN_TOKEN or ADMIN_READ_TOKEN)',
  },
  json: { type: 'boolean', help: "Print the API's JSON instead of a table" },
  help: { type: 'boolean', short: 'h', help: 'Show this help' },
};

/** The options a command accepts, its own and the global ones. */
export function optionsOf(command: Command): Record<string, OptionSpec> {
  if (command.local) return { ...command.options, help: GLOBAL_OPTIONS.help as OptionSpec };
  return { ...command.options, ...GLOBAL_OPTIONS };
}

function flagUsage(name: string, spec: OptionSpec): string {
  return spec.type === 'string' ? `--${name} ${spec.value ?? 'VALUE'}` : `--${name}`;
}

/** `switchyard keys create <name> [--rpm N] …`: the one-line usage of a command. */
export function usageLine(command: Command): string {
  const own = Object.entries(command.options).map(([name, spec]) => `[${flagUsage(name, spec)}]`);
  const global = command.local ? [] : ['[--url URL] [--token TOKEN] [--json]'];
  return ['switchyard', command.name, command.args, ...own, ...global].filter((part) => part !== '').join(' ');
}

/** The full help of a command. */
export function commandHelp(command: Command): string[] {
  const lines = [`Usage: ${usageLine(command)}`, '', command.summary];
  if (command.details) lines.push(...command.details);
  const entries = Object.entries(optionsOf(command));
  const labels = entries.map(([name, spec]) => `${spec.short ? `-${spec.short}, ` : ''}${flagUsage(name, spec)}`);
  const width = Math.max(...labels.map((l) => l.length));
  lines.push('', 'Options:');
  entries.forEach(([, spec], i) => lines.push(`  ${(labels[i] ?? '').padEnd(width)}  ${spec.help}`));
  return lines;
}

/** Parses the arguments after the command's name against its options; a mistake is a UsageError naming the usage. */
export function parseCommandLine(command: Command, argv: string[]): { args: string[]; flags: Flags } {
  const specs = optionsOf(command);
  const options = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      spec.short ? { type: spec.type, short: spec.short } : { type: spec.type },
    ]),
  );
  const fail = (problem: string) => new UsageError(`${problem}. Usage: ${usageLine(command)}`);
  // strict: false and our own checks, so each mistake is named in our words.
  const { values, positionals, tokens } = parseArgs({
    args: argv,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const spec = specs[token.name];
    if (spec === undefined) throw fail(`unknown option ${token.rawName}`);
    if (spec.type === 'string' && (token.value === undefined || (!token.inlineValue && token.value.startsWith('--')))) {
      throw fail(`${token.rawName} needs a value`);
    }
    if (spec.type === 'boolean' && token.value !== undefined) throw fail(`${token.rawName} takes no value`);
  }
  const flags = values as Flags;
  if (flags.help === true) return { args: positionals, flags };
  if (positionals.length < command.minArgs)
    throw fail(`missing ${command.args.split(' ')[positionals.length] ?? 'argument'}`);
  if (positionals.length > command.maxArgs) throw fail(`unexpected argument '${positionals[command.maxArgs] ?? ''}'`);
  return { args: positionals, flags };
}

/** A string flag's value, when given. */
export function stringFlag(flags: Flags, name: string): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}
