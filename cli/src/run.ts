// The CLI as a function of its arguments: finds the command, checks the line, runs it, and turns every
// failure into one line on stderr and an exit code.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createAdminClient, type AdminClient } from './admin-client.js';
import { CliError, UsageError } from './cli-error.js';
import { commandHelp, GLOBAL_OPTIONS, optionsOf, parseCommandLine, stringFlag, type Command } from './command.js';
import { COMMANDS } from './commands/index.js';
import { DEFAULT_GATEWAY_URL, type CliEnv } from './config.js';

/** Where the CLI writes, what its environment says, and the time it runs at. */
export interface CliIO {
  out(line: string): void;
  err(line: string): void;
  env: CliEnv;
  nowMs: number;
}

const GROUPS = ['keys', 'nodes', 'usage'] as const;
const OVERVIEW_USAGE = 'switchyard <keys|nodes|usage|login|help> … (see switchyard --help)';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

function groupUsage(group: string): string {
  const subs = COMMANDS.filter((c) => c.name.startsWith(`${group} `)).map((c) => c.name.slice(group.length + 1));
  return `switchyard ${group} <${subs.join('|')}> [options] (see switchyard ${group} --help)`;
}

function overview(): string[] {
  const width = Math.max(...COMMANDS.map((c) => `${c.name} ${c.args}`.length));
  return [
    `switchyard ${version()}: the operator's command line for a Switchyard gateway (its admin API).`,
    '',
    'Usage: switchyard <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${`${c.name} ${c.args}`.trimEnd().padEnd(width)}  ${c.brief}`),
    '',
    'Connection (every command but login):',
    `  --url URL      ${GLOBAL_OPTIONS.url?.help ?? ''}`,
    `  --token TOKEN  ${GLOBAL_OPTIONS.token?.help ?? ''}; the variable keeps it out of ps`,
    `  --json         ${GLOBAL_OPTIONS.json?.help ?? ''}`,
    '',
    'The read-only token (ADMIN_READ_TOKEN) runs list, show and usage; create, update, revoke, add, rotate, drain and',
    'resume need the admin token (ADMIN_TOKEN). An admin API on its own port (ADMIN_PORT) listens on the gateway',
    "host's loopback: reach it through an SSH tunnel (ssh -L 9090:127.0.0.1:9090 gateway-host) and --url http://127.0.0.1:9090.",
    '',
    "switchyard <command> --help shows a command's options. switchyard --version prints the version.",
  ];
}

/** Every option any command knows, so a first pass reads the command's words correctly. */
function allOptions(): Record<string, { type: 'string' | 'boolean'; short?: string }> {
  const all: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    version: { type: 'boolean', short: 'V' },
  };
  for (const command of COMMANDS) {
    for (const [name, spec] of Object.entries(optionsOf(command)))
      all[name] = spec.short ? { type: spec.type, short: spec.short } : { type: spec.type };
  }
  return all;
}

/** The command named by the leading words, and the arguments with those words taken out. */
function findCommand(argv: string[]): {
  command?: Command;
  words: string[];
  rest: string[];
  flags: Record<string, unknown>;
} {
  const { tokens, values } = parseArgs({
    args: argv,
    options: allOptions(),
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const positional = tokens.filter((t) => t.kind === 'positional');
  const words = positional.map((t) => t.value);
  for (const count of [2, 1]) {
    const name = words.slice(0, count).join(' ');
    const command = words.length >= count ? COMMANDS.find((c) => c.name === name) : undefined;
    if (command) {
      const taken = new Set(positional.slice(0, count).map((t) => t.index));
      return { command, words, rest: argv.filter((_, i) => !taken.has(i)), flags: values };
    }
  }
  return { words, rest: argv, flags: values };
}

function helpFor(words: string[]): string[] {
  const name = words.join(' ');
  const command = COMMANDS.find((c) => c.name === name);
  if (command) return commandHelp(command);
  const group = GROUPS.find((g) => g === words[0]);
  if (group) {
    const members = COMMANDS.filter((c) => c.name === group || c.name.startsWith(`${group} `));
    return [
      `Usage: ${groupUsage(group)}`,
      '',
      ...members.map((c) => `  ${`${c.name} ${c.args}`.trimEnd().padEnd(20)}  ${c.brief}`),
    ];
  }
  return overview();
}

function connect(flags: Record<string, unknown>, env: CliEnv): AdminClient {
  const url =
    stringFlag(flags as Record<string, string | boolean | undefined>, 'url') ?? env.url ?? DEFAULT_GATEWAY_URL;
  const flagToken = stringFlag(flags as Record<string, string | boolean | undefined>, 'token');
  const token = flagToken ?? env.token;
  if (token === undefined) throw new CliError('no admin token: pass --token or set SWITCHYARD_ADMIN_TOKEN');
  const tokenSource = flagToken !== undefined ? '--token' : (env.tokenVar ?? 'SWITCHYARD_ADMIN_TOKEN');
  return createAdminClient({ url, token, tokenSource });
}

async function dispatch(argv: string[], io: CliIO): Promise<number> {
  const found = findCommand(argv);
  const { command, words, flags } = found;
  if (words[0] === 'help') {
    for (const line of helpFor(words.slice(1))) io.out(line);
    return 0;
  }
  if (!command) {
    if (words.length === 0) {
      if (flags.version === true) io.out(version());
      else for (const line of overview()) io.out(line);
      return 0;
    }
    const group = GROUPS.find((g) => g === words[0]);
    if (group && flags.help === true) {
      for (const line of helpFor([group])) io.out(line);
      return 0;
    }
    if (group && words.length === 1) throw new UsageError(`'${group}' needs a command. Usage: ${groupUsage(group)}`);
    const name = group ? words.slice(0, 2).join(' ') : words[0];
    throw new UsageError(`unknown command '${name ?? ''}'. Usage: ${group ? groupUsage(group) : OVERVIEW_USAGE}`);
  }
  const { args, flags: commandFlags } = parseCommandLine(command, found.rest);
  if (commandFlags.help === true) {
    for (const line of commandHelp(command)) io.out(line);
    return 0;
  }
  let client: AdminClient | undefined;
  const json = commandFlags.json === true;
  const code = await command.run({
    args,
    flags: commandFlags,
    json,
    client: () => (client ??= connect(commandFlags, io.env)),
    print: (line = '') => io.out(line),
    note: (line) => io.err(line),
    printJson: (value) => io.out(JSON.stringify(value, null, 2)),
    nowMs: io.nowMs,
  });
  return typeof code === 'number' ? code : 0;
}

/**
 * Runs one command line; resolves to the exit code. Failures are one line on stderr: `switchyard: <what> (<fix>)`.
 * @example process.exitCode = await runCli(['keys', 'list'], { out: console.log, err: console.error, env: readCliEnv(), nowMs: Date.now() })
 */
export async function runCli(argv: string[], io: CliIO): Promise<number> {
  try {
    return await dispatch(argv, io);
  } catch (err) {
    if (err instanceof CliError) {
      io.err(`switchyard: ${err.message.replace(/\s*\n\s*/g, ' ')}`);
      return err.exitCode;
    }
    io.err(
      `switchyard: unexpected error: ${err instanceof Error ? err.message : String(err)}`.replace(/\s*\n\s*/g, ' '),
    );
    return 1;
  }
}
