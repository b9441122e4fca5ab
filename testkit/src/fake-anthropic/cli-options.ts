// Command-line options of the fake (npm run fake-anthropic -- --port N …), and what it prints on start.
import type { AccountSeed, FakeAnthropic, FakeAnthropicOptions } from './types.js';

/** Parsed command line. */
export interface FakeCliOptions {
  port: number;
  host: string;
  fake: FakeAnthropicOptions;
}

/** Usage text. */
export const FAKE_CLI_USAGE = `usage: fake-anthropic [--port 4010] [--host 127.0.0.1] [--accounts 1] [--api-key-accounts 0]
  [--first-byte-delay-ms 0] [--delta-interval-ms 0] [--text-deltas 3] [--response-text TEXT] [--record-bodies]`;

const NUMBER_FLAGS = [
  '--port',
  '--accounts',
  '--api-key-accounts',
  '--first-byte-delay-ms',
  '--delta-interval-ms',
  '--text-deltas',
] as const;

function readFlags(argv: string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--record-bodies') {
      flags.set(arg, 'true');
      continue;
    }
    const [name, inline] = arg.split('=', 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (!name.startsWith('--') || value === undefined) throw new Error(`bad argument ${arg}\n${FAKE_CLI_USAGE}`);
    flags.set(name, value);
  }
  return flags;
}

/** Seeds N oauth accounts (acct-1…) and M API-key accounts (key-1…). */
export function cliAccountSeeds(oauth: number, apiKey: number): AccountSeed[] {
  const seeds: AccountSeed[] = [];
  for (let i = 1; i <= oauth; i++) seeds.push({ id: `acct-${i}`, kind: 'oauth' });
  for (let i = 1; i <= apiKey; i++) seeds.push({ id: `key-${i}`, kind: 'api_key' });
  return seeds;
}

/** Parses argv (without node and the script); throws with the usage text on anything unknown. */
export function parseFakeCliArgs(argv: string[]): FakeCliOptions {
  const flags = readFlags(argv);
  const known = new Set<string>([...NUMBER_FLAGS, '--host', '--response-text', '--record-bodies']);
  for (const name of flags.keys()) if (!known.has(name)) throw new Error(`unknown option ${name}\n${FAKE_CLI_USAGE}`);
  const numbers: Record<string, number> = {};
  for (const name of NUMBER_FLAGS) {
    const raw = flags.get(name);
    if (raw === undefined) continue;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`${name} wants a whole number, got ${raw}`);
    numbers[name] = value;
  }
  const responseText = flags.get('--response-text');
  return {
    port: numbers['--port'] ?? 4010,
    host: flags.get('--host') ?? '127.0.0.1',
    fake: {
      accounts: cliAccountSeeds(numbers['--accounts'] ?? 1, numbers['--api-key-accounts'] ?? 0),
      timing: {
        firstByteDelayMs: numbers['--first-byte-delay-ms'] ?? 0,
        deltaIntervalMs: numbers['--delta-interval-ms'] ?? 0,
        textDeltas: numbers['--text-deltas'] ?? 3,
        ...(responseText !== undefined ? { responseText } : {}),
      },
      // A long-running fake (demo, benchmark) must not keep every body in memory.
      recordBodies: flags.has('--record-bodies'),
      recordLimit: 1000,
    },
  };
}

/** The lines the CLI prints: the URL, then one credential per line (`<kind> <accountId> <value>`). */
export function startupLines(fake: FakeAnthropic): string[] {
  const lines = [`url ${fake.url}`];
  for (const account of fake.accounts()) {
    if (account.kind === 'api_key') {
      lines.push(`api_key ${account.id} ${account.apiKey ?? ''}`);
      continue;
    }
    const credentials = fake.issueOAuthCredentials(account.id);
    lines.push(`refresh_token ${account.id} ${credentials.refreshToken}`);
    lines.push(`access_token ${account.id} ${credentials.accessToken}`);
  }
  return lines;
}
