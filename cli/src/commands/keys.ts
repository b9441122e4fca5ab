// switchyard keys create|list|show|update|revoke: the admin API's /admin/keys.
import { UsageError } from '../cli-error.js';
import type { Command, CommandContext, OptionSpec } from '../command.js';
import { formatCount, formatRelative, renderFields, renderTable } from '../format.js';
import { keySettingsFromFlags } from './key-values.js';
import { formatUsdMicros } from './usage-figures.js';

/** A key as GET /admin/keys shows it (no digest, never the key). */
interface KeyView {
  id: string;
  name: string;
  hint: string;
  enabled: boolean;
  expiresAt: number | null;
  allowedModels: string[] | null;
  /** Absent from a gateway older than the beta allowlist: any. */
  allowedBetas?: string[] | null;
  rpm: number | null;
  concurrency: number | null;
  dailyTokenBudget: number | null;
  /** USD budgets; absent from a gateway older than them: none. */
  dailyUsdBudget?: number | null;
  monthlyUsdBudget?: number | null;
  createdAt: number;
  updatedAt: number;
}

const LIMIT_OPTIONS: Record<string, OptionSpec> = {
  rpm: { type: 'string', value: 'N', help: "Requests per minute ('none': unlimited)" },
  concurrency: { type: 'string', value: 'N', help: "Requests at once ('none': unlimited)" },
  'daily-tokens': { type: 'string', value: 'N', help: "Tokens per UTC day ('none': unlimited)" },
  'daily-usd': {
    type: 'string',
    value: 'USD',
    help: "US dollars per UTC day at API list prices, e.g. 5 or 0.25 ('none': no budget)",
  },
  'monthly-usd': {
    type: 'string',
    value: 'USD',
    help: "US dollars per UTC calendar month at API list prices ('none': no budget)",
  },
  models: { type: 'string', value: 'LIST', help: "Models it may call, comma-separated ('any': all)" },
  betas: {
    type: 'string',
    value: 'LIST',
    help: "anthropic-beta values it may send, comma-separated ('any': all; 'none': no beta)",
  },
  expires: { type: 'string', value: 'WHEN', help: "30d, 12h, 2026-01-31, an ISO date-time, or 'never'" },
};

function limit(n: number | null): string {
  return n === null ? '-' : formatCount(n);
}

function usd(amount: number | null | undefined): string {
  return amount === null || amount === undefined ? '-' : formatUsdMicros(Math.round(amount * 1_000_000));
}

function status(key: KeyView, nowMs: number): string {
  if (!key.enabled) return 'disabled';
  if (key.expiresAt !== null && key.expiresAt <= nowMs) return 'expired';
  return 'active';
}

function expiry(key: KeyView, nowMs: number): string {
  return key.expiresAt === null ? 'never' : formatRelative(key.expiresAt, nowMs);
}

function models(key: KeyView): string {
  return key.allowedModels === null ? 'any' : key.allowedModels.join(',');
}

function betas(key: KeyView): string {
  if (key.allowedBetas === null || key.allowedBetas === undefined) return 'any';
  return key.allowedBetas.length === 0 ? 'none' : key.allowedBetas.join(',');
}

function describeKey(key: KeyView, nowMs: number): string[] {
  return renderFields([
    ['id', key.id],
    ['name', key.name],
    ['key', `${key.hint} (the key itself is shown only when created)`],
    ['status', status(key, nowMs)],
    ['requests/min', limit(key.rpm)],
    ['concurrency', limit(key.concurrency)],
    ['tokens/day', limit(key.dailyTokenBudget)],
    ['USD/day', usd(key.dailyUsdBudget)],
    ['USD/month', usd(key.monthlyUsdBudget)],
    ['models', models(key)],
    ['betas', betas(key)],
    ['expires', expiry(key, nowMs)],
    ['created', `${new Date(key.createdAt).toISOString()} (${formatRelative(key.createdAt, nowMs)})`],
    ['updated', `${new Date(key.updatedAt).toISOString()} (${formatRelative(key.updatedAt, nowMs)})`],
  ]);
}

async function createKey(ctx: CommandContext): Promise<void> {
  const client = ctx.client();
  const body = { ...keySettingsFromFlags(ctx.flags, ctx.nowMs), name: ctx.args[0] };
  const created = (await client.request('POST', '/keys', body)) as { key: string; record: KeyView };
  if (ctx.json) return ctx.printJson(created);
  const { key, record } = created;
  ctx.print(`Created key '${record.name}' (${record.id}).`);
  ctx.print();
  ctx.print(`    ${key}`);
  ctx.print();
  ctx.print('This is the only time the key is shown: store it now.');
  ctx.print(
    `Use it as ANTHROPIC_AUTH_TOKEN (Claude Code) or an SDK's API key, with ANTHROPIC_BASE_URL the gateway's client URL (${client.url} unless its admin API has a port of its own).`,
  );
  ctx.print(
    `Limits: ${limit(record.rpm)} requests/min, ${limit(record.concurrency)} at once, ${limit(record.dailyTokenBudget)} tokens/day, ${usd(record.dailyUsdBudget)}/day, ${usd(record.monthlyUsdBudget)}/month; models ${models(record)}; betas ${betas(record)}; expires ${expiry(record, ctx.nowMs)}.`,
  );
}

async function listKeys(ctx: CommandContext): Promise<void> {
  const answer = (await ctx.client().request('GET', '/keys')) as { keys: KeyView[] };
  if (ctx.json) return ctx.printJson(answer);
  if (answer.keys.length === 0) return ctx.print('No keys yet: create one with `switchyard keys create <name>`.');
  const keys = [...answer.keys].sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  const rows = keys.map((k) => [
    k.id,
    k.name,
    k.hint,
    status(k, ctx.nowMs),
    limit(k.rpm),
    limit(k.concurrency),
    limit(k.dailyTokenBudget),
    usd(k.dailyUsdBudget),
    usd(k.monthlyUsdBudget),
    models(k),
    betas(k),
    expiry(k, ctx.nowMs),
    formatRelative(k.createdAt, ctx.nowMs),
  ]);
  const right = { align: 'right' } as const;
  const columns = [
    { header: 'ID' },
    { header: 'NAME' },
    { header: 'KEY' },
    { header: 'STATUS' },
    { header: 'RPM', ...right },
    { header: 'CONCURRENCY', ...right },
    { header: 'TOKENS/DAY', ...right },
    { header: 'USD/DAY', ...right },
    { header: 'USD/MONTH', ...right },
    { header: 'MODELS' },
    { header: 'BETAS' },
    { header: 'EXPIRES' },
    { header: 'CREATED' },
  ];
  for (const line of renderTable(columns, rows)) ctx.print(line);
}

async function showKey(ctx: CommandContext): Promise<void> {
  const key = (await ctx.client().request('GET', `/keys/${encodeURIComponent(ctx.args[0] ?? '')}`)) as KeyView;
  if (ctx.json) return ctx.printJson(key);
  for (const line of describeKey(key, ctx.nowMs)) ctx.print(line);
}

async function updateKey(ctx: CommandContext): Promise<number | void> {
  const changes = keySettingsFromFlags(ctx.flags, ctx.nowMs);
  if (Object.keys(changes).length === 0) {
    throw new UsageError(
      'nothing to change: give --name, --rpm, --concurrency, --daily-tokens, --daily-usd, --monthly-usd, --models, --betas, --expires, --enable or --disable',
    );
  }
  const key = (await ctx
    .client()
    .request('PATCH', `/keys/${encodeURIComponent(ctx.args[0] ?? '')}`, changes)) as KeyView;
  if (ctx.json) return ctx.printJson(key);
  ctx.print(`Updated key '${key.name}' (${key.id}): ${Object.keys(changes).join(', ')}.`);
  for (const line of describeKey(key, ctx.nowMs)) ctx.print(line);
}

async function revokeKey(ctx: CommandContext): Promise<void> {
  const id = ctx.args[0] ?? '';
  const answer = await ctx.client().request('DELETE', `/keys/${encodeURIComponent(id)}`);
  if (ctx.json) return ctx.printJson(answer);
  ctx.print(`Revoked key ${id}: every gateway refuses it within 5 s.`);
}

/** The key commands. */
export const KEY_COMMANDS: Command[] = [
  {
    name: 'keys create',
    brief: 'Create a gateway key (printed once)',
    args: '<name>',
    minArgs: 1,
    maxArgs: 1,
    summary: 'Create a gateway key for a person or app. The key is printed once: store it then.',
    details: ['Without options the key is unlimited, never expires and may call any model with any anthropic-beta.'],
    options: { ...LIMIT_OPTIONS, disabled: { type: 'boolean', help: 'Create it switched off' } },
    run: createKey,
  },
  {
    name: 'keys list',
    brief: 'List the keys and their limits',
    args: '',
    minArgs: 0,
    maxArgs: 0,
    summary: 'List the gateway keys with their limits.',
    options: {},
    run: listKeys,
  },
  {
    name: 'keys show',
    brief: 'Show one key',
    args: '<id>',
    minArgs: 1,
    maxArgs: 1,
    summary: 'Show one key.',
    options: {},
    run: showKey,
  },
  {
    name: 'keys update',
    brief: "Change a key's name, limits, models, betas, expiry, switch",
    args: '<id>',
    minArgs: 1,
    maxArgs: 1,
    summary: "Change a key's name, limits, models, betas, expiry or switch.",
    options: {
      name: { type: 'string', value: 'NAME', help: 'A new name' },
      ...LIMIT_OPTIONS,
      enable: { type: 'boolean', help: 'Switch it on' },
      disable: { type: 'boolean', help: 'Switch it off (it is kept; enable brings it back)' },
    },
    run: updateKey,
  },
  {
    name: 'keys revoke',
    brief: 'Revoke a key',
    args: '<id>',
    minArgs: 1,
    maxArgs: 1,
    summary: 'Revoke a key: every gateway refuses it within 5 s, and it cannot come back.',
    options: {},
    run: revokeKey,
  },
];
