// switchyard nodes list|drain|resume: the admin API's /admin/nodes.
import type { Command, CommandContext } from '../command.js';
import { formatCount, formatPercent, formatRelative, formatSpan, renderTable } from '../format.js';

interface WindowFigures {
  utilization?: number;
  resetAt?: number;
}

/** A node as GET /admin/nodes shows it. */
interface NodeSummary {
  nodeId: string;
  accountKind: 'oauth' | 'api_key';
  accountLabel?: string;
  state: string;
  limitedUntil?: number;
  limitedFamilies?: Record<string, number>;
  fiveHour?: WindowFigures;
  sevenDay?: WindowFigures;
  inFlight: number;
  version: string;
  gitSha: string;
  heartbeatAgeMs: number;
  adminDrained: boolean;
  unreachableUntil?: number;
}

/** A build and the nodes running it, as GET /admin/nodes groups them. */
interface VersionGroup {
  version: string;
  gitSha: string;
  nodes: string[];
}

/** GET /admin/nodes. `versions` and `gateway` are absent from gateways older than the admin API's 1.1.0. */
interface NodeList {
  nodes: NodeSummary[];
  versions?: VersionGroup[];
  mixedVersions?: boolean;
  gateway?: { version: string; gitSha: string };
}

const build = (b: { version: string; gitSha: string }): string => `${b.version} (${b.gitSha.slice(0, 7)})`;

/**
 * The fleet's builds on one line, the newest first: "versions: 0.2.0 (def5678) on 1 node, 0.1.0 (abc1234) on 2 nodes — mixed".
 * Undefined when the gateway does not group them.
 */
export function versionsLine(list: Pick<NodeList, 'versions' | 'mixedVersions'>): string | undefined {
  if (list.versions === undefined || list.versions.length === 0) return undefined;
  const groups = list.versions.map((g) => `${build(g)} on ${g.nodes.length} node${g.nodes.length === 1 ? '' : 's'}`);
  return `versions: ${groups.join(', ')}${list.mixedVersions === true ? ' — mixed' : ''}`;
}

function stateOf(node: NodeSummary, nowMs: number): string {
  const parts = [node.state];
  if (node.state === 'limited' && node.limitedUntil !== undefined) parts[0] = `limited until ${formatRelative(node.limitedUntil, nowMs)}`;
  const families = Object.entries(node.limitedFamilies ?? {}).filter(([, until]) => until > nowMs);
  for (const [family, until] of families) parts.push(`${family} limited ${formatRelative(until, nowMs)}`);
  if (node.adminDrained) parts.push('drained');
  if (node.unreachableUntil !== undefined) parts.push('unreachable');
  return parts.join(', ');
}

function windowOf(figures: WindowFigures | undefined, nowMs: number): string {
  if (figures?.utilization === undefined && figures?.resetAt === undefined) return '-';
  const used = figures.utilization === undefined ? '?' : formatPercent(figures.utilization);
  return figures.resetAt === undefined || figures.resetAt <= nowMs ? used : `${used}, resets ${formatRelative(figures.resetAt, nowMs)}`;
}

async function listNodes(ctx: CommandContext): Promise<void> {
  const answer = (await ctx.client().request('GET', '/nodes')) as NodeList;
  if (ctx.json) return ctx.printJson(answer);
  if (answer.nodes.length === 0) {
    return ctx.print("No nodes: start a node-agent per account, with the gateway's REDIS_URL and REDIS_PREFIX.");
  }
  const nodes = [...answer.nodes].sort((a, b) => a.nodeId.localeCompare(b.nodeId));
  const rows = nodes.map((n) => [
    n.nodeId,
    n.accountLabel ?? (n.accountKind === 'api_key' ? '(API key)' : '-'),
    stateOf(n, ctx.nowMs),
    windowOf(n.fiveHour, ctx.nowMs),
    windowOf(n.sevenDay, ctx.nowMs),
    formatCount(n.inFlight),
    `${formatSpan(n.heartbeatAgeMs)} ago`,
    build(n),
  ]);
  const columns = [
    { header: 'NODE' },
    { header: 'ACCOUNT' },
    { header: 'STATE' },
    { header: '5H' },
    { header: '7D' },
    { header: 'IN FLIGHT', align: 'right' as const },
    { header: 'HEARTBEAT' },
    { header: 'VERSION' },
  ];
  for (const line of renderTable(columns, rows)) ctx.print(line);
  const footer = [versionsLine(answer), answer.gateway === undefined ? undefined : `gateway: ${build(answer.gateway)}`].filter((l) => l !== undefined);
  if (footer.length > 0) ctx.print('');
  for (const line of footer) ctx.print(line);
}

function setDrain(drain: boolean) {
  return async function drainOrResume(ctx: CommandContext): Promise<void> {
    const id = ctx.args[0] ?? '';
    const answer = await ctx.client().request('POST', `/nodes/${encodeURIComponent(id)}/${drain ? 'drain' : 'resume'}`);
    if (ctx.json) return ctx.printJson(answer);
    ctx.print(
      drain
        ? `Drained ${id}: the gateway sends it no new requests (its conversations move to other nodes); requests in flight finish. Undo with \`switchyard nodes resume ${id}\`.`
        : `Resumed ${id}: it takes traffic again.`,
    );
  };
}

/** The node commands. */
export const NODE_COMMANDS: Command[] = [
  {
    name: 'nodes list',
    brief: 'The fleet: state, utilization, resets, load',
    args: '',
    minArgs: 0,
    maxArgs: 0,
    summary: 'The fleet: each node, its account, state, 5-hour and 7-day utilization and resets, load, version.',
    options: {},
    run: listNodes,
  },
  {
    name: 'nodes drain',
    brief: 'Take a node out of rotation',
    args: '<id>',
    minArgs: 1,
    maxArgs: 1,
    summary: 'Drain a node: the gateway sends it no new requests; requests in flight finish.',
    options: {},
    run: setDrain(true),
  },
  {
    name: 'nodes resume',
    brief: 'Let a drained node take traffic again',
    args: '<id>',
    minArgs: 1,
    maxArgs: 1,
    summary: 'Resume a drained node.',
    options: {},
    run: setDrain(false),
  },
];
