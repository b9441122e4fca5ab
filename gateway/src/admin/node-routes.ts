// /admin/nodes: the fleet as this gateway sees it (the nodes connected to it, and every enrolled node), and
// the operator's drain switch per node. Enrolling, revoking and rotating live in enrolment-routes.ts.
import express, { type Request, type Response, type Router } from 'express';
import {
  AppError,
  effectiveState,
  type AccountStatus,
  type Keyspace,
  type Logger,
  type SharedStore,
  type WindowFigures,
} from '@switchyard/shared';
import { createForesight, type FleetForesight, type NodeForesight } from '../foresight/index.js';
import { NODE_ID_RE, type EnrolmentRepository, type NodeEnrolment } from '../nodes/index.js';
import type { NodeView } from '../routing/index.js';

/** What GET /admin/nodes shows of one connected node: the account's status now, its limits and reset times (epoch ms), load and build. */
export interface NodeSummary {
  nodeId: string;
  accountKind: 'oauth' | 'api_key';
  accountLabel?: string;
  /** The account status now (a lapsed limit reads as available), including what this gateway observed since the node's last report. */
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
  /**
   * When the account is predicted to run out at its recent burn (docs/FORESIGHT.md); null for an API-key account,
   * which has no 5-hour or 7-day window.
   */
  foresight: NodeForesight | null;
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

/** What GET /admin/nodes shows of an enrolled node: never its token, only a hint of it. */
export interface EnrolledNode {
  nodeId: string;
  label?: string;
  /** A safe-to-show form of its current token, e.g. 'syn-AbCd…wxyz'. */
  tokenHint: string;
  createdAt: number;
  /** When its token was last rotated. */
  rotatedAt?: number;
  /** It has a tunnel to the gateway that answered (and so is in `nodes`). */
  connected: boolean;
  /** An operator drained it: it gets no new requests, now or when it connects. */
  adminDrained: boolean;
}

/** GET /admin/nodes: every connected node, every enrolled one, and the builds at a glance. */
export interface NodeList {
  /** The nodes connected to this gateway, with their state. */
  nodes: NodeSummary[];
  /** Every enrolled node, by id, connected or not. */
  enrolled: EnrolledNode[];
  /** One entry per (version, gitSha) the nodes run, the most recently started build first (during a roll-out: the new one). */
  versions: VersionGroup[];
  /** More than one build runs: a roll-out is under way, or one stalled. */
  mixedVersions: boolean;
  /** The build of the gateway that answered (gateway and nodes have release lines of their own). */
  gateway: BuildInfo;
}

/** Groups nodes by build, the group with the most recently started node first (ties: more nodes, then version text). */
export function versionGroups(
  nodes: readonly Pick<NodeSummary, 'nodeId' | 'version' | 'gitSha' | 'startedAt'>[],
): VersionGroup[] {
  const groups = new Map<string, VersionGroup & { newestStart: number }>();
  for (const n of nodes) {
    const id = JSON.stringify([n.version, n.gitSha]);
    const group = groups.get(id) ?? { version: n.version, gitSha: n.gitSha, nodes: [], newestStart: 0 };
    group.nodes.push(n.nodeId);
    group.newestStart = Math.max(group.newestStart, n.startedAt);
    groups.set(id, group);
  }
  return [...groups.values()]
    .sort(
      (a, b) =>
        b.newestStart - a.newestStart ||
        b.nodes.length - a.nodes.length ||
        a.version.localeCompare(b.version) ||
        a.gitSha.localeCompare(b.gitSha),
    )
    .map(({ version, gitSha, nodes: ids }) => ({ version, gitSha, nodes: ids.sort() }));
}

/** The `keys.nodeControl` value that drains a node (read by the gateways' routers). */
export const DRAINED_CONTROL = '{"drained":true}';

function summarize(view: NodeView, nowMs: number, foresight: NodeForesight | null): NodeSummary {
  const { record } = view;
  const account = view.localState ?? record.state;
  const summary: NodeSummary = {
    nodeId: record.nodeId,
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
    foresight,
  };
  if (record.accountLabel !== undefined) summary.accountLabel = record.accountLabel;
  if (account.limitedUntil !== undefined) summary.limitedUntil = account.limitedUntil;
  if (account.limitedFamilies !== undefined) summary.limitedFamilies = account.limitedFamilies;
  if (account.fiveHour !== undefined) summary.fiveHour = account.fiveHour;
  if (account.sevenDay !== undefined) summary.sevenDay = account.sevenDay;
  if (account.representativeClaim !== undefined) summary.representativeClaim = account.representativeClaim;
  if (view.unreachableUntil !== undefined && view.unreachableUntil > nowMs)
    summary.unreachableUntil = view.unreachableUntil;
  return summary;
}

function enrolledNode(enrolment: NodeEnrolment, connected: boolean, adminDrained: boolean): EnrolledNode {
  const { nodeId, label, tokenHint, createdAt, rotatedAt } = enrolment;
  return {
    nodeId,
    ...(label === undefined ? {} : { label }),
    tokenHint,
    createdAt,
    ...(rotatedAt === undefined ? {} : { rotatedAt }),
    connected,
    adminDrained,
  };
}

/** Dependencies of the node routes. */
export interface NodeRoutesDeps {
  store: Pick<SharedStore, 'mget' | 'set' | 'del'>;
  keys: Pick<Keyspace, 'nodeControl'>;
  enrolments: Pick<EnrolmentRepository, 'get' | 'list'>;
  registry: { nodes(): NodeView[] };
  log: Logger;
  now: () => number;
  /** This gateway's build. */
  build: BuildInfo;
  /** The gateway's quota foresight (main.ts starts it); default one of its own, reading the registry when the fleet is listed. */
  foresight?: { tick(): FleetForesight };
}

/** The node routes. */
export function createNodeRoutes(deps: NodeRoutesDeps): Router {
  const { store, keys, enrolments, registry, log, now, build } = deps;
  const foresight = deps.foresight ?? createForesight({ registry, log, now });
  const router = express.Router();

  // A node is known when it is enrolled; one connected here counts too (its enrolment may be gone this very
  // second, its tunnel closing), so an operator can always drain what the fleet list shows.
  async function controlKeyOf(nodeId: string): Promise<{ key: string; known: boolean } | undefined> {
    if (!NODE_ID_RE.test(nodeId)) return undefined; // an id that can never name a node
    const key = keys.nodeControl(nodeId);
    const known =
      registry.nodes().some((n) => n.record.nodeId === nodeId) || (await enrolments.get(nodeId)) !== undefined;
    return { key, known };
  }

  router.get('/nodes', async function listNodes(_req: Request, res: Response): Promise<void> {
    const enrolledNow = await enrolments.list();
    const drained =
      enrolledNow.length === 0 ? [] : await store.mget(enrolledNow.map((e) => keys.nodeControl(e.nodeId)));
    const nowMs = now();
    const predicted = foresight.tick();
    const nodes = registry.nodes().map((view) => summarize(view, nowMs, predicted.get(view.record.nodeId) ?? null));
    const connected = new Set(nodes.map((n) => n.nodeId));
    const enrolled = enrolledNow.map((e, i) =>
      enrolledNode(e, connected.has(e.nodeId), drained[i] === DRAINED_CONTROL),
    );
    const versions = versionGroups(nodes);
    const answer: NodeList = {
      nodes,
      enrolled,
      versions,
      mixedVersions: versions.length > 1,
      gateway: { version: build.version, gitSha: build.gitSha },
    };
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

  // A node that was revoked while drained can still be resumed, so its flag does not outlive it.
  router.post(
    '/nodes/:id/resume',
    async function resumeNode(req: Request<{ id: string }>, res: Response): Promise<void> {
      const nodeId = req.params.id;
      const target = await controlKeyOf(nodeId);
      const removed = target === undefined ? 0 : await store.del(target.key);
      if (!target || (!target.known && removed === 0)) throw new AppError('not_found', 'No node with this id');
      log.info('node resumed by admin', { nodeId });
      res.json({ nodeId, adminDrained: false });
    },
  );

  return router;
}
