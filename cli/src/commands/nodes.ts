// switchyard nodes add|list|drain|resume|rotate|revoke: the admin API's /admin/nodes. Enrolment is in node-enrolment.ts.
import type { Command, CommandContext } from '../command.js';
import { formatCount, formatPercent, formatRelative, formatSpan, renderTable } from '../format.js';
import { ENROLMENT_COMMANDS, nodeIdArg, unknownNode } from './node-enrolment.js';

interface WindowFigures {
  utilization?: number;
  resetAt?: number;
}

/** One window's foresight (GET /admin/nodes, docs/FORESIGHT.md). */
interface WindowForesight {
  utilization: number;
  burnPerHour: number;
  exhaustsAt: number | null;
  resetAt: number | null;
}

/** When a node's account is predicted to run out; null for an API-key account. */
interface NodeForesight {
  fiveHour?: WindowForesight;
  sevenDay?: WindowForesight;
  exhaustsAt: number | null;
}

/** A connected node as GET /admin/nodes shows it. */
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
  /** Absent from gateways that predate quota foresight. */
  foresight?: NodeForesight | null;
}

/** A build and the nodes running it, as GET /admin/nodes groups them. */
interface VersionGroup {
  version: string;
  gitSha: string;
  nodes: string[];
}

/** An enrolled node as GET /admin/nodes lists it. */
interface EnrolledNode {
  nodeId: string;
  label?: string;
  tokenHint: string;
  createdAt: number;
  rotatedAt?: number;
  connected: boolean;
  adminDrained: boolean;
}

/** GET /admin/nodes. `versions` and `gateway` are absent from gateways older than the admin API's 1.1.0, `enrolled` before 2.0.0. */
interface NodeList {
  nodes: NodeSummary[];
  enrolled?: EnrolledNode[];
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
  if (node.state === 'limited' && node.limitedUntil !== undefined)
    parts[0] = `limited until ${formatRelative(node.limitedUntil, nowMs)}`;
  const families = Object.entries(node.limitedFamilies ?? {}).filter(([, until]) => until > nowMs);
  for (const [family, until] of families) parts.push(`${family} limited ${formatRelative(until, nowMs)}`);
  if (node.adminDrained) parts.push('drained');
  if (node.unreachableUntil !== undefined) parts.push('unreachable');
  return parts.join(', ');
}

function windowOf(figures: WindowFigures | undefined, foresight: WindowForesight | undefined, nowMs: number): string {
  if (figures?.utilization === undefined && figures?.resetAt === undefined) return '-';
  const used = figures.utilization === undefined ? '?' : formatPercent(figures.utilization);
  // A burn under half a percent an hour reads as none (formatPercent would print +0%/h).
  const burn =
    foresight !== undefined && foresight.burnPerHour >= 0.005
      ? `${used} +${formatPercent(foresight.burnPerHour)}/h`
      : used;
  return figures.resetAt === undefined || figures.resetAt <= nowMs
    ? burn
    : `${burn}, resets ${formatRelative(figures.resetAt, nowMs)}`;
}

/**
 * When the node's account runs out at its recent burn: "in 1h 20m (5h)", "now (7d)", "lasts to reset", "n/a (API key)"
 * (an API-key account has no windows); "-" when nothing is known (or the gateway predates foresight).
 */
export function runsOutOf(node: Pick<NodeSummary, 'foresight'>, nowMs: number): string {
  const foresight = node.foresight;
  if (foresight === null) return 'n/a (API key)';
  if (foresight === undefined || (foresight.fiveHour === undefined && foresight.sevenDay === undefined)) return '-';
  if (foresight.exhaustsAt === null) return 'lasts to reset';
  const window = foresight.fiveHour?.exhaustsAt === foresight.exhaustsAt ? '5h' : '7d';
  return `${foresight.exhaustsAt <= nowMs ? 'now' : formatRelative(foresight.exhaustsAt, nowMs)} (${window})`;
}

function connectedRow(
  n: NodeSummary,
  enrolment: EnrolledNode | undefined,
  enrolledKnown: boolean,
  nowMs: number,
): string[] {
  const state = enrolledKnown && enrolment === undefined ? `${stateOf(n, nowMs)}, not enrolled` : stateOf(n, nowMs);
  return [
    n.nodeId,
    enrolment?.label ?? '-',
    n.accountLabel ?? (n.accountKind === 'api_key' ? '(API key)' : '-'),
    state,
    windowOf(n.fiveHour, n.foresight?.fiveHour, nowMs),
    windowOf(n.sevenDay, n.foresight?.sevenDay, nowMs),
    runsOutOf(n, nowMs),
    formatCount(n.inFlight),
    `${formatSpan(n.heartbeatAgeMs)} ago`,
    build(n),
  ];
}

function offlineRow(e: EnrolledNode): string[] {
  return [e.nodeId, e.label ?? '-', '-', e.adminDrained ? 'offline, drained' : 'offline', '-', '-', '-', '-', '-', '-'];
}

async function listNodes(ctx: CommandContext): Promise<void> {
  const answer = (await ctx.client().request('GET', '/nodes')) as NodeList;
  if (ctx.json) return ctx.printJson(answer);
  const enrolled = new Map((answer.enrolled ?? []).map((e) => [e.nodeId, e]));
  if (answer.nodes.length === 0 && enrolled.size === 0) {
    return ctx.print(
      "No nodes: enrol one with `switchyard nodes add <id>` and put the lines it prints in the node's .env.",
    );
  }
  const connected = new Map(answer.nodes.map((n) => [n.nodeId, n]));
  const ids = [...new Set([...connected.keys(), ...enrolled.keys()])].sort((a, b) => a.localeCompare(b));
  const rows = ids.map((id) => {
    const node = connected.get(id);
    const enrolment = enrolled.get(id);
    return node === undefined
      ? offlineRow(enrolment as EnrolledNode)
      : connectedRow(node, enrolment, answer.enrolled !== undefined, ctx.nowMs);
  });
  const columns = [
    { header: 'NODE' },
    { header: 'LABEL' },
    { header: 'ACCOUNT' },
    { header: 'STATE' },
    { header: '5H' },
    { header: '7D' },
    { header: 'RUNS OUT' },
    { header: 'IN FLIGHT', align: 'right' as const },
    { header: 'REPORTED' },
    { header: 'VERSION' },
  ];
  for (const line of renderTable(columns, rows)) ctx.print(line);
  const online = ids.filter((id) => connected.has(id)).length;
  const footer = [
    `${online} of ${ids.length} node${ids.length === 1 ? '' : 's'} connected to this gateway`,
    versionsLine(answer),
    answer.gateway === undefined ? undefined : `gateway: ${build(answer.gateway)}`,
  ].filter((l) => l !== undefined);
  ctx.print('');
  for (const line of footer) ctx.print(line);
}

function setDrain(drain: boolean) {
  return async function drainOrResume(ctx: CommandContext): Promise<void> {
    const id = nodeIdArg(ctx, `switchyard nodes ${drain ? 'drain' : 'resume'} <id>`);
    let answer: unknown;
    try {
      answer = await ctx.client().request('POST', `/nodes/${encodeURIComponent(id)}/${drain ? 'drain' : 'resume'}`);
    } catch (err) {
      throw unknownNode(err, id);
    }
    if (ctx.json) return ctx.printJson(answer);
    ctx.print(
      drain
        ? `Drained ${id}: the gateways send it no new requests (its conversations move to other nodes); requests in flight finish. Undo with \`switchyard nodes resume ${id}\`.`
        : `Resumed ${id}: it takes traffic again.`,
    );
  };
}

/** The node commands. */
export const NODE_COMMANDS: Command[] = [
  ENROLMENT_COMMANDS.add,
  {
    name: 'nodes list',
    brief: 'The fleet: enrolled nodes, connected ones with state, utilization, load',
    args: '',
    minArgs: 0,
    maxArgs: 0,
    summary:
      'The fleet: every enrolled node; for those connected to this gateway their account, state, 5-hour and 7-day utilization with its burn per hour and resets, when the account runs out at that burn (RUNS OUT; "lasts to reset" when it does not), load, version.',
    options: {},
    run: listNodes,
  },
  {
    name: 'nodes drain',
    brief: 'Take a node out of rotation',
    args: '<id>',
    minArgs: 1,
    maxArgs: 1,
    summary:
      'Drain a node: the gateways send it no new requests; requests in flight finish. An enrolled node need not be connected.',
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
  ENROLMENT_COMMANDS.rotate,
  ENROLMENT_COMMANDS.revoke,
];
