// /admin/nodes: the live fleet as this gateway sees it, and the operator's drain switch per node.
import express, { type Request, type Response, type Router } from 'express';
import { AppError, effectiveState, type AccountStatus, type Keyspace, type Logger, type SharedStore, type WindowFigures } from '@switchyard/shared';
import type { NodeView } from '../routing/index.js';

/** What GET /admin/nodes shows of one node: the account's status now, its limits and reset times (epoch ms), load and build. */
export interface NodeSummary {
  nodeId: string;
  url: string;
  accountKind: 'oauth' | 'api_key';
  accountLabel?: string;
  /** The account status now (a lapsed limit reads as available), including what this gateway observed since the last heartbeat. */
  state: AccountStatus;
  /** While `limited`: out until then. */
  limitedUntil?: number;
  /** Per model family: out until then. */
  limitedFamilies?: Record<string, number>;
  fiveHour?: WindowFigures;
  sevenDay?: WindowFigures;
  representativeClaim?: string;
  stateUpdatedAt: number;
  inFlight: number;
  version: string;
  gitSha: string;
  startedAt: number;
  heartbeatAt: number;
  heartbeatAgeMs: number;
  adminDrained: boolean;
  /** Set while this gateway treats the node as unreachable. */
  unreachableUntil?: number;
}

/** A build: a release line's version and the commit it was built from. */
export interface BuildInfo {
  version: string;
  gitSha: string;
}

/** One build the fleet runs, and the nodes running it. */
export interface VersionGroup extends BuildInfo {
  /** Node ids, sorted. */
  nodes: string[];
}

/** GET /admin/nodes: every live node, and the builds at a glance. */
export interface NodeList {
  nodes: NodeSummary[];
  /** One entry per (version, gitSha) the nodes run, the most recently started build first (during a roll-out: the new one). */
  versions: VersionGroup[];
  /** More than one build runs: a roll-out is under way, or one stalled. */
  mixedVersions: boolean;
  /** The build of the gateway that answered (gateway and nodes have release lines of their own). */
  gateway: BuildInfo;
}

/** Groups nodes by build, the group with the most recently started node first (ties: more nodes, then version text). */
export function versionGroups(nodes: readonly Pick<NodeSummary, 'nodeId' | 'version' | 'gitSha' | 'startedAt'>[]): VersionGroup[] {
  const groups = new Map<string, VersionGroup & { newestStart: number }>();
  for (const n of nodes) {
    const id = JSON.stringify([n.version, n.gitSha]);
    const group = groups.get(id) ?? { version: n.version, gitSha: n.gitSha, nodes: [], newestStart: 0 };
    group.nodes.push(n.nodeId);
    group.newestStart = Math.max(group.newestStart, n.startedAt);
    groups.set(id, group);
  }
  return [...groups.values()]
    .sort((a, b) => b.newestStart - a.newestStart || b.nodes.length - a.nodes.length || a.version.localeCompare(b.version) || a.gitSha.localeCompare(b.gitSha))
    .map(({ version, gitSha, nodes: ids }) => ({ version, gitSha, nodes: ids.sort() }));
}

/** The `keys.nodeControl` value that drains a node (read by the gateway's router and by the node). */
export const DRAINED_CONTROL = '{"drained":true}';

function summarize(view: NodeView, nowMs: number): NodeSummary {
  const { record } = view;
  const account = view.localState ?? record.state;
  const summary: NodeSummary = {
    nodeId: record.nodeId,
    url: record.url,
    accountKind: record.accountKind,
    state: effectiveState(account, nowMs),
    stateUpdatedAt: account.updatedAt,
    inFlight: record.inFlight,
    version: record.version,
    gitSha: record.gitSha,
    startedAt: record.startedAt,
    heartbeatAt: record.heartbeatAt,
    heartbeatAgeMs: Math.max(0, nowMs - record.heartbeatAt),
    adminDrained: view.adminDrained,
  };
  if (record.accountLabel !== undefined) summary.accountLabel = record.accountLabel;
  if (account.limitedUntil !== undefined) summary.limitedUntil = account.limitedUntil;
  if (account.limitedFamilies !== undefined) summary.limitedFamilies = account.limitedFamilies;
  if (account.fiveHour !== undefined) summary.fiveHour = account.fiveHour;
  if (account.sevenDay !== undefined) summary.sevenDay = account.sevenDay;
  if (account.representativeClaim !== undefined) summary.representativeClaim = account.representativeClaim;
  if (view.unreachableUntil !== undefined && view.unreachableUntil > nowMs) summary.unreachableUntil = view.unreachableUntil;
  return summary;
}

/** Dependencies of the node routes. */
export interface NodeRoutesDeps {
  store: Pick<SharedStore, 'get' | 'set' | 'del'>;
  keys: Pick<Keyspace, 'node' | 'nodeControl'>;
  registry: { nodes(): NodeView[] };
  log: Logger;
  now: () => number;
  /** This gateway's build. */
  build: BuildInfo;
}

/** The node routes. */
export function createNodeRoutes(deps: NodeRoutesDeps): Router {
  const { store, keys, registry, log, now, build } = deps;
  const router = express.Router();

  // The snapshot lags up to a refresh interval; the registry entry itself settles whether a node exists.
  async function controlKeyOf(nodeId: string): Promise<{ key: string; known: boolean } | undefined> {
    let key: string;
    let entryKey: string;
    try {
      key = keys.nodeControl(nodeId);
      entryKey = keys.node(nodeId);
    } catch {
      return undefined; // an id that can never name a node
    }
    const known = registry.nodes().some((n) => n.record.nodeId === nodeId) || (await store.get(entryKey)) !== null;
    return { key, known };
  }

  router.get('/nodes', function listNodes(_req: Request, res: Response): void {
    const nowMs = now();
    const nodes = registry.nodes().map((view) => summarize(view, nowMs));
    const versions = versionGroups(nodes);
    const answer: NodeList = { nodes, versions, mixedVersions: versions.length > 1, gateway: { version: build.version, gitSha: build.gitSha } };
    res.json(answer);
  });

  router.post('/nodes/:id/drain', async function drainNode(req: Request<{ id: string }>, res: Response): Promise<void> {
    const nodeId = req.params.id;
    const target = await controlKeyOf(nodeId);
    if (!target?.known) throw new AppError('not_found', 'No node with this id');
    await store.set(target.key, DRAINED_CONTROL);
    log.info('node drained by admin', { nodeId });
    res.json({ nodeId, adminDrained: true });
  });

  // A node that left while drained can still be resumed, so its flag does not outlive it.
  router.post('/nodes/:id/resume', async function resumeNode(req: Request<{ id: string }>, res: Response): Promise<void> {
    const nodeId = req.params.id;
    const target = await controlKeyOf(nodeId);
    const removed = target === undefined ? 0 : await store.del(target.key);
    if (!target || (!target.known && removed === 0)) throw new AppError('not_found', 'No node with this id');
    log.info('node resumed by admin', { nodeId });
    res.json({ nodeId, adminDrained: false });
  });

  return router;
}
