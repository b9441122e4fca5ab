// switchyard usage [--by …] and usage recent: the admin API's /admin/usage.
import { UsageError } from '../cli-error.js';
import { stringFlag, type Command, type CommandContext } from '../command.js';
import { formatCount, formatDuration, formatRelative, renderTable, type Column } from '../format.js';

const GROUPINGS = ['key', 'node', 'model', 'day'] as const;

interface UsageTotals {
  requests: number;
  errors: number;
  aborted: number;
  cacheReadInputTokens: number;
  cacheCreationInputTokens: number;
  estimatedInputTokens: number;
  estimatedOutputTokens: number;
  durationMs: number;
  sentTokens: number;
  receivedTokens: number;
}

interface UsageReport {
  by: (typeof GROUPINGS)[number];
  from: string;
  to: string;
  rows: (UsageTotals & { id: string; name?: string })[];
  totals: UsageTotals;
  allTime: UsageTotals;
}

interface RecentRequest {
  at: number;
  keyId: string;
  nodeId: string | null;
  model: string;
  stream: boolean;
  status: number;
  aborted: boolean;
  inputTokens: number;
  outputTokens: number;
  cacheReadInputTokens: number;
  durationMs: number;
  ttfbMs: number | null;
}

const right = { align: 'right' } as const;
const FIGURE_COLUMNS: Column[] = [
  { header: 'REQUESTS', ...right },
  { header: 'ERRORS', ...right },
  { header: 'SENT', ...right },
  { header: 'RECEIVED', ...right },
  { header: 'CACHE READ', ...right },
  { header: 'CACHE WRITE', ...right },
  { header: 'EST. IN', ...right },
  { header: 'EST. OUT', ...right },
  { header: 'AVG TIME', ...right },
];

function figures(t: UsageTotals): string[] {
  return [
    formatCount(t.requests),
    formatCount(t.errors),
    formatCount(t.sentTokens),
    formatCount(t.receivedTokens),
    formatCount(t.cacheReadInputTokens),
    formatCount(t.cacheCreationInputTokens),
    formatCount(t.estimatedInputTokens),
    formatCount(t.estimatedOutputTokens),
    t.requests === 0 ? '-' : formatDuration(t.durationMs / t.requests),
  ];
}

async function showUsage(ctx: CommandContext): Promise<void> {
  const by = stringFlag(ctx.flags, 'by') ?? 'day';
  if (!(GROUPINGS as readonly string[]).includes(by)) throw new UsageError(`--by expects key, node, model or day; got '${by}'`);
  const query = new URLSearchParams({ by });
  for (const end of ['from', 'to']) {
    const day = stringFlag(ctx.flags, end);
    if (day !== undefined) query.set(end, day);
  }
  const report = (await ctx.client().request('GET', `/usage?${query.toString()}`)) as UsageReport;
  if (ctx.json) return ctx.printJson(report);
  ctx.print(`Token usage by ${report.by}, ${report.from} to ${report.to} (UTC days)`);
  ctx.print();
  const idColumns: Column[] = report.by === 'key' ? [{ header: 'KEY' }, { header: 'NAME' }] : [{ header: report.by.toUpperCase() }];
  const ids = (row: UsageReport['rows'][number]) => (report.by === 'key' ? [row.id, row.name ?? '(revoked)'] : [row.id]);
  const rows = report.rows.map((row) => [...ids(row), ...figures(row)]);
  const total = [...(report.by === 'key' ? ['TOTAL', ''] : ['TOTAL']), ...figures(report.totals)];
  if (report.rows.length === 0) ctx.print('No requests counted in this range.');
  else for (const line of renderTable([...idColumns, ...FIGURE_COLUMNS], [...rows, total])) ctx.print(line);
  const all = report.allTime;
  ctx.print();
  ctx.print(`All time: ${formatCount(all.requests)} requests, ${formatCount(all.sentTokens)} tokens sent, ${formatCount(all.receivedTokens)} received.`);
}

async function showRecent(ctx: CommandContext): Promise<void> {
  const limit = stringFlag(ctx.flags, 'limit');
  const path = limit === undefined ? '/usage/recent' : `/usage/recent?${new URLSearchParams({ limit }).toString()}`;
  const answer = (await ctx.client().request('GET', path)) as { requests: RecentRequest[] };
  if (ctx.json) return ctx.printJson(answer);
  if (answer.requests.length === 0) return ctx.print('No requests yet.');
  const rows = answer.requests.map((r) => [
    formatRelative(r.at, ctx.nowMs),
    r.keyId,
    r.nodeId ?? '-',
    r.model,
    `${r.status}${r.aborted ? ' aborted' : ''}`,
    r.stream ? 'yes' : 'no',
    formatCount(r.inputTokens),
    formatCount(r.outputTokens),
    formatCount(r.cacheReadInputTokens),
    formatDuration(r.durationMs),
    r.ttfbMs === null ? '-' : formatDuration(r.ttfbMs),
  ]);
  const columns: Column[] = [
    { header: 'WHEN' },
    { header: 'KEY' },
    { header: 'NODE' },
    { header: 'MODEL' },
    { header: 'STATUS' },
    { header: 'STREAM' },
    { header: 'IN', ...right },
    { header: 'OUT', ...right },
    { header: 'CACHE READ', ...right },
    { header: 'TIME', ...right },
    { header: 'TTFB', ...right },
  ];
  for (const line of renderTable(columns, rows)) ctx.print(line);
}

/** The usage commands. */
export const USAGE_COMMANDS: Command[] = [
  {
    name: 'usage',
    brief: 'Tokens by key, node, model or day',
    args: '',
    minArgs: 0,
    maxArgs: 0,
    summary: 'Tokens used per key, node, model or day over a range of UTC days (default: the last 7 days, by day).',
    details: ['SENT and RECEIVED are exact (from Anthropic); EST. columns are js-tiktoken estimates.'],
    options: {
      by: { type: 'string', value: 'key|node|model|day', help: 'Group the rows (default: day)' },
      from: { type: 'string', value: 'YYYY-MM-DD', help: 'First day (default: six days before --to)' },
      to: { type: 'string', value: 'YYYY-MM-DD', help: 'Last day (default: today, UTC)' },
    },
    run: showUsage,
  },
  {
    name: 'usage recent',
    brief: 'The latest requests',
    args: '',
    minArgs: 0,
    maxArgs: 0,
    summary: 'The most recent requests, newest first (never any prompt or answer text).',
    options: { limit: { type: 'string', value: 'N', help: 'How many (default 50)' } },
    run: showRecent,
  },
];
