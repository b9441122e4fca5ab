// switchyard usage [--by …] and usage recent: the admin API's /admin/usage.
import { UsageError } from '../cli-error.js';
import { stringFlag, type Command, type CommandContext } from '../command.js';
import { formatCount, formatDuration, formatRelative, renderTable, type Column } from '../format.js';
import { formatShare, formatUsdMicros } from './usage-figures.js';

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
  // Absent from a gateway older than the cost counters: read as 0 (and the share as unknown).
  costMicros?: number;
  apiEquivalentMicros?: number;
  cacheSavingsMicros?: number;
  unpricedRequests?: number;
  cacheMisses?: number;
  stickyMoves?: number;
  cacheReadShare?: number | null;
  // Absent from a gateway older than the OpenAI route: every request came as a Messages request.
  requestsByRoute?: { messages: number; chat_completions: number };
}

interface UsageReport {
  by: (typeof GROUPINGS)[number];
  from: string;
  to: string;
  rows: (UsageTotals & { id: string; name?: string; month?: UsageTotals & { month: string } })[];
  totals: UsageTotals;
  allTime: UsageTotals;
  priceVersions?: string[];
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
  costMicros?: number;
  priced?: boolean;
}

const right = { align: 'right' } as const;
/** Marks a cost that leaves out requests of a model with no price (counted at $0). */
const UNPRICED_MARK = '*';

function figureColumns(by: UsageReport['by']): Column[] {
  return [
    { header: 'REQUESTS', ...right },
    { header: 'OPENAI', ...right },
    { header: 'ERRORS', ...right },
    { header: 'SENT', ...right },
    { header: 'RECEIVED', ...right },
    { header: 'COST', ...right },
    // Nodes are accounts: what a subscription account served, priced as the API would have.
    ...(by === 'node' ? [{ header: 'API VALUE', ...right }] : []),
    { header: 'CACHE READ', ...right },
    { header: 'CACHE WRITE', ...right },
    { header: 'READ SHARE', ...right },
    { header: 'SAVED', ...right },
    { header: 'MISSES', ...right },
    { header: 'MOVES', ...right },
    { header: 'EST. IN', ...right },
    { header: 'EST. OUT', ...right },
    { header: 'AVG TIME', ...right },
  ];
}

/** The cost, marked when some of its requests had no price; the mark's place is kept on every row so the column lines up. */
function costCell(t: UsageTotals): string {
  return `${formatUsdMicros(t.costMicros ?? 0)} ${(t.unpricedRequests ?? 0) > 0 ? UNPRICED_MARK : ' '}`;
}

function figures(t: UsageTotals, by: UsageReport['by']): string[] {
  return [
    formatCount(t.requests),
    formatCount(t.requestsByRoute?.chat_completions ?? 0),
    formatCount(t.errors),
    formatCount(t.sentTokens),
    formatCount(t.receivedTokens),
    costCell(t),
    ...(by === 'node' ? [formatUsdMicros(t.apiEquivalentMicros ?? 0)] : []),
    formatCount(t.cacheReadInputTokens),
    formatCount(t.cacheCreationInputTokens),
    formatShare(t.cacheReadShare ?? null),
    formatUsdMicros(t.cacheSavingsMicros ?? 0),
    formatCount(t.cacheMisses ?? 0),
    formatCount(t.stickyMoves ?? 0),
    formatCount(t.estimatedInputTokens),
    formatCount(t.estimatedOutputTokens),
    t.requests === 0 ? '-' : formatDuration(t.durationMs / t.requests),
  ];
}

/** The lines under the table: what the mark means, the key months, the prices used and what subscriptions served. */
function notes(report: UsageReport): string[] {
  const lines: string[] = [];
  const unpriced = report.totals.unpricedRequests ?? 0;
  if (unpriced > 0) {
    lines.push(
      `${UNPRICED_MARK} ${formatCount(unpriced)} request${unpriced === 1 ? '' : 's'} of a model with no price, counted at $0 (add its price in PRICES_FILE).`,
    );
  }
  const months = report.rows.filter((row) => row.month !== undefined && row.month.requests > 0);
  if (report.by === 'key' && months.length > 0) {
    const month = months[0]?.month?.month ?? '';
    lines.push(
      `This month (${month}): ${months.map((row) => `${row.name ?? row.id} ${formatUsdMicros(row.month?.costMicros ?? 0)}`).join(', ')}.`,
    );
  }
  const served = report.totals.apiEquivalentMicros ?? 0;
  if (served > 0) lines.push(`Subscription accounts served ${formatUsdMicros(served)} of this at API prices.`);
  if ((report.priceVersions ?? []).length > 0) lines.push(`Priced with ${(report.priceVersions ?? []).join(', ')}.`);
  return lines;
}

async function showUsage(ctx: CommandContext): Promise<void> {
  const by = stringFlag(ctx.flags, 'by') ?? 'day';
  if (!(GROUPINGS as readonly string[]).includes(by))
    throw new UsageError(`--by expects key, node, model or day; got '${by}'`);
  const query = new URLSearchParams({ by });
  for (const end of ['from', 'to']) {
    const day = stringFlag(ctx.flags, end);
    if (day !== undefined) query.set(end, day);
  }
  const report = (await ctx.client().request('GET', `/usage?${query.toString()}`)) as UsageReport;
  if (ctx.json) return ctx.printJson(report);
  ctx.print(`Token usage by ${report.by}, ${report.from} to ${report.to} (UTC days)`);
  ctx.print();
  const idColumns: Column[] =
    report.by === 'key' ? [{ header: 'KEY' }, { header: 'NAME' }] : [{ header: report.by.toUpperCase() }];
  const ids = (row: UsageReport['rows'][number]) =>
    report.by === 'key' ? [row.id, row.name ?? '(revoked)'] : [row.id];
  const rows = report.rows.map((row) => [...ids(row), ...figures(row, report.by)]);
  const total = [...(report.by === 'key' ? ['TOTAL', ''] : ['TOTAL']), ...figures(report.totals, report.by)];
  if (report.rows.length === 0) ctx.print('No requests counted in this range.');
  else for (const line of renderTable([...idColumns, ...figureColumns(report.by)], [...rows, total])) ctx.print(line);
  const all = report.allTime;
  ctx.print();
  for (const line of notes(report)) ctx.print(line);
  ctx.print(
    `All time: ${formatCount(all.requests)} requests, ${formatCount(all.sentTokens)} tokens sent, ${formatCount(all.receivedTokens)} received, ${formatUsdMicros(all.costMicros ?? 0)}.`,
  );
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
    r.priced === false ? 'unpriced' : formatUsdMicros(r.costMicros ?? 0),
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
    { header: 'COST', ...right },
    { header: 'TIME', ...right },
    { header: 'TTFB', ...right },
  ];
  for (const line of renderTable(columns, rows)) ctx.print(line);
}

/** The usage commands. */
export const USAGE_COMMANDS: Command[] = [
  {
    name: 'usage',
    brief: 'Tokens and cost by key, node, model or day',
    args: '',
    minArgs: 0,
    maxArgs: 0,
    summary:
      'Tokens used, their cost and cache efficiency per key, node, model or day over a range of UTC days (default: the last 7 days, by day).',
    details: [
      'SENT and RECEIVED are exact (from Anthropic); EST. columns are js-tiktoken estimates.',
      'OPENAI: the requests among them that came in the OpenAI Chat Completions format (/v1/chat/completions).',
      `COST is at API list prices, in USD; ${UNPRICED_MARK} marks a row with requests of a model that has no price (counted at $0).`,
      'READ SHARE: cache reads over all input sent; SAVED: what prompt caching saved (negative: writes cost more than reads saved);',
      'MISSES: requests that wrote to the cache and read nothing; MOVES: sticky conversations answered away from their node.',
      "--by node adds API VALUE: what the node's account served, at API prices (a subscription account is not billed per token).",
    ],
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
