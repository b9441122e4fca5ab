// The gateway's app, in process and whole, for the tracing tests: the real proxy routes, key authenticator, limiter,
// registry, sticky store and forwarder over a real Redis (its own prefix), stand-in nodes dialled in over real
// tunnels, and a real tracer provider whose spans are kept in memory. Excluded from the build.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { recordingLog, waitFor, type LogLine } from '@switchyard/testkit';

export { registerTestTracing, type LogLine, type TestTracing } from '@switchyard/testkit';
import { createApp } from '../app.js';
import { BodyBudget } from '../http/body-budget.js';
import { createKeyAuthenticator, createKeyRepository } from '../keys/index.js';
import { createKeyLimiter } from '../limits/index.js';
import { createForwarder } from '../proxy/index.js';
import { createRegistrySnapshot, createStickyStore } from '../routing/index.js';
import { dialGateway, openTestRedis, testHub, type TestNodePeer, type TestRedis } from '../tunnel/test-harness.js';
import type { TunnelHub } from '../tunnel/index.js';
import type { UsageDraft } from '../usage/index.js';

/** One request as a stand-in node got it. */
export interface NodeSeen {
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export type NodeBehaviour = (req: IncomingMessage, res: ServerResponse) => void;

/** A node dialled into the gateway over a real tunnel, answering each request with its behaviour. */
export interface TestNode {
  nodeId: string;
  seen: NodeSeen[];
  peer: TestNodePeer;
}

export interface TracedGateway {
  url: string;
  /** A gateway key that authenticates (its raw form, and the id spans name it by). */
  key: string;
  keyId: string;
  log: LogLine[];
  drafts: UsageDraft[];
  hub: TunnelHub;
  redis: TestRedis;
  /**
   * Enrols `nodeId`, dials in and waits until the gateway routes to it. `connectionStatus` other than 200: the node
   * refuses every request stream of its tunnel (the gateway cannot reach it).
   */
  addNode(nodeId: string, behaviour: NodeBehaviour, connectionStatus?: number): Promise<TestNode>;
  stop(): Promise<void>;
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function readAll(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('error', reject);
  });
}

/** The whole app on loopback; `tracing` is the flag main.ts passes (tracing on or off). */
export async function startTracedGateway(opts: { tracing: boolean }): Promise<TracedGateway> {
  const redis = openTestRedis('trace');
  const { store, keys } = redis;
  const log: LogLine[] = [];
  const logger = recordingLog(log);
  const drafts: UsageDraft[] = [];
  const hub = testHub(redis);
  const registry = createRegistrySnapshot({ source: hub, store, keys, log: logger });
  const forwarder = createForwarder({
    agentFor: (nodeId) => hub.agentFor(nodeId),
    log: logger,
    onNodeResponse: (nodeId, status, headers, model) => registry.observe(nodeId, status, headers, model),
    onNodeUnreachable: (nodeId) => registry.markUnreachable(nodeId),
    retryDelayMs: 5,
  });
  const { key, record } = await createKeyRepository({ store, keys }).create({
    name: 'tracing',
    enabled: true,
    expiresAt: null,
    allowedModels: null,
    allowedBetas: null,
    rpm: null,
    concurrency: null,
    dailyTokenBudget: null,
  });
  const limiter = createKeyLimiter({ store, keys, log: logger });
  const app = createApp({
    authenticator: createKeyAuthenticator({ store, keys, log: logger }),
    limiter,
    registry,
    sticky: createStickyStore({ store, keys, log: logger }),
    forwarder,
    maxBodyBytes: 1024 * 1024,
    bodyBudget: new BodyBudget(8 * 1024 * 1024, 4 * 1024 * 1024),
    log: logger,
    stats: { requestsWithoutThinking: 0 },
    usage: { record: (draft) => void drafts.push(draft) },
    now: () => Date.now(),
    priceBook: { reservationMicros: () => 0 },
    readiness: () => Promise.resolve({ redis: true, availableNodes: hub.reports().length }),
    version: 'test',
    gitSha: 'test',
    tracing: opts.tracing,
  });
  const server = createServer(app);
  server.on('upgrade', hub.handleUpgrade);
  const url = await listen(server);
  await hub.start();
  const peers: TestNodePeer[] = [];
  const nodeServers: Server[] = [];
  return {
    url,
    key,
    keyId: record.id,
    log,
    drafts,
    hub,
    redis,
    async addNode(nodeId, behaviour, connectionStatus = 200) {
      const enrolled = await redis.enrolments.create(nodeId);
      if (enrolled === undefined) throw new Error(`node ${nodeId} is enrolled already`);
      const seen: NodeSeen[] = [];
      const nodeServer = createServer((req, res) => {
        void readAll(req).then((body) => {
          seen.push({ headers: req.headers, body });
          behaviour(req, res);
        });
      });
      nodeServers.push(nodeServer);
      const joined = await dialGateway(url, { nodeId, token: enrolled.token, server: nodeServer, connectionStatus });
      if (!joined.ok) throw new Error(`node ${nodeId} could not join: ${joined.status}`);
      peers.push(joined.peer);
      await waitFor(`${nodeId} routable`, () => registry.nodes().some((n) => n.record.nodeId === nodeId), 10_000);
      return { nodeId, seen, peer: joined.peer };
    },
    async stop() {
      for (const peer of peers) await peer.close();
      for (const s of nodeServers) s.closeAllConnections();
      await hub.stop();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await limiter.stop();
      await redis.stop();
    },
  };
}
