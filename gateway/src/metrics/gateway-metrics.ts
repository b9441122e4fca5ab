// The gateway's Prometheus registry: counters the request path feeds, and gauges read at scrape time
// from the registry snapshot, the forwarder, the usage recorder and the usage queue.
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayStats } from '../http/proxy-routes.js';
import type { FailoverReason, ForwardOutcome } from '../proxy/index.js';
import type { RegistrySnapshot } from '../routing/index.js';
import type { UsageRecorderStats } from '../usage/index.js';
import { shareQueueLag, type QueueLagReader } from '../usage/queue-lag.js';
import { NODE_STATES, fleetSeries } from './fleet-series.js';
import { createLabelLimiter } from './label-limiter.js';

/** Watches one proxied request from its arrival to the close of its response; recorded once, at close. */
export interface RequestObservation {
  /** The body was parsed: what it asks for. */
  parsed(model: string | undefined, stream: boolean): void;
  /** The gateway refused it before any node (a key problem, a limit, no node): the AppError code. */
  rejected(code: string): void;
  /** A conversation's sticky node was looked up: available (hit) or not (miss). */
  sticky(hit: boolean): void;
  /** Forwarding begins (a streamed request counts as an active stream from here to its close). */
  forwarding(): void;
  forwarded(outcome: ForwardOutcome): void;
  /** The route handler returned or threw; the request is recorded once this and the response's close both happened. */
  settled(): void;
}

/** The request path's view of the metrics. */
export interface ProxyMetrics {
  observe(res: ServerResponse, route: string): RequestObservation;
}

export interface GatewayMetrics extends ProxyMetrics {
  readonly registry: Registry;
  /** The forwarder moved on from `nodeId` before the first byte. */
  failover(nodeId: string, reason: FailoverReason): void;
}

export interface GatewayMetricsDeps {
  registry: Pick<RegistrySnapshot, 'nodes' | 'redisHealthy'>;
  forwarder: { inFlight(nodeId: string): number };
  /** The node tunnels of this replica (none: the gauge is not exported). */
  tunnels?: { tunnelCounts(): ReadonlyMap<string, number> };
  stats: GatewayStats;
  usage: { stats(): UsageRecorderStats };
  /**
   * The usage queue's depth and lag, read at scrape time (none: the series are not exported). Exported here
   * too, not only by the worker, because the lag grows most while the worker is down.
   */
  queueLag?: QueueLagReader;
  now(): number;
  version: string;
  gitSha: string;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const TTFB_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
// nginx's "client closed request": the client left before a response head.
const CLIENT_CLOSED = 499;

/** Keeps a Counter in step with a number kept elsewhere (the recorder's and the route's own counts). */
function follow(counter: Counter, read: () => number): () => void {
  let last = 0;
  return () => {
    const value = read();
    if (value > last) counter.inc(value - last);
    last = value;
  };
}

/**
 * Creates the registry with default process metrics (prefixed `switchyard_`) and every gateway series.
 * Nothing is read at creation; the gauges read their sources when scraped.
 * @example
 * const metrics = createGatewayMetrics({ registry, forwarder, stats, usage, now: Date.now, version, gitSha });
 * createMetricsHandler({ source: metrics.registry, token });
 */
export function createGatewayMetrics(deps: GatewayMetricsDeps): GatewayMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_' });
  const modelLabel = createLabelLimiter(50);
  const nodeLabel = createLabelLimiter(200);

  new Gauge({
    name: 'switchyard_gateway_info',
    help: 'The gateway build (always 1).',
    labelNames: ['version', 'git_sha'],
    registers,
  }).set({ version: deps.version, git_sha: deps.gitSha }, 1);
  new Gauge({
    name: 'switchyard_build_info',
    help: "The build this process runs: its release line's version and git sha (always 1; one series per process).",
    labelNames: ['service', 'version', 'git_sha'],
    registers,
  }).set({ service: 'gateway', version: deps.version, git_sha: deps.gitSha }, 1);
  const requests = new Counter({
    name: 'switchyard_gateway_requests_total',
    help: 'Proxied requests by route, the status the client got, the model asked for and the node that answered (none: no node).',
    labelNames: ['route', 'status', 'model', 'node'],
    registers,
  });
  const duration = new Histogram({
    name: 'switchyard_gateway_request_duration_seconds',
    help: 'Proxied requests from arrival to the end of the response.',
    labelNames: ['route', 'stream'],
    buckets: DURATION_BUCKETS,
    registers,
  });
  const ttfb = new Histogram({
    name: 'switchyard_gateway_time_to_first_byte_seconds',
    help: 'From forwarding to the first response body byte written to the client.',
    labelNames: ['route', 'stream'],
    buckets: TTFB_BUCKETS,
    registers,
  });
  const activeStreams = new Gauge({
    name: 'switchyard_gateway_active_streams',
    help: 'Streamed requests being answered now.',
    registers,
  });
  const failovers = new Counter({
    name: 'switchyard_gateway_failovers_total',
    help: 'Times a request moved on to another node before the first byte, by the node left and why.',
    labelNames: ['node', 'reason'],
    registers,
  });
  const sticky = new Counter({
    name: 'switchyard_gateway_sticky_lookups_total',
    help: 'Requests of a known conversation (hit: its node was available and chosen first) or a new or moved one (miss).',
    labelNames: ['result'],
    registers,
  });
  const rejections = new Counter({
    name: 'switchyard_gateway_rejections_total',
    help: 'Requests the gateway answered itself before any node, by error code (unauthenticated, rate_limited, overloaded, ...).',
    labelNames: ['reason'],
    registers,
  });

  const withoutThinking = new Counter({
    name: 'switchyard_gateway_requests_without_thinking_total',
    help: '/v1/messages requests that did not enable thinking.',
    registers,
    collect: () => syncWithoutThinking(),
  });
  const syncWithoutThinking = follow(withoutThinking, () => deps.stats.requestsWithoutThinking);
  const usageJobs = new Counter({
    name: 'switchyard_gateway_usage_jobs_total',
    help: 'Usage jobs by where they went: enqueued, spooled (Redis could not take them) or replayed from the spool.',
    labelNames: ['outcome'],
    registers,
    collect: () => {
      const s = deps.usage.stats();
      for (const outcome of ['enqueued', 'spooled', 'replayed'] as const) syncUsage[outcome](s);
    },
  });
  const syncUsage = {
    enqueued: followLabelled(usageJobs, 'enqueued'),
    spooled: followLabelled(usageJobs, 'spooled'),
    replayed: followLabelled(usageJobs, 'replayed'),
  };
  new Gauge({
    name: 'switchyard_gateway_usage_buffer_jobs',
    help: 'Usage drafts waiting in memory to be enqueued or spooled.',
    registers,
    collect() {
      this.set(deps.usage.stats().buffered);
    },
  });
  new Gauge({
    name: 'switchyard_gateway_usage_spool_bytes',
    help: 'Bytes of usage jobs in the local spool, waiting for Redis.',
    registers,
    collect() {
      this.set(deps.usage.stats().spoolBytes);
    },
  });
  new Gauge({
    name: 'switchyard_gateway_registry_up',
    help: '1 when the last read of the fleet registry from Redis succeeded.',
    registers,
    collect() {
      this.set(deps.registry.redisHealthy() ? 1 : 0);
    },
  });
  registerFleetGauges(deps, registers);
  if (deps.queueLag !== undefined) registerQueueLagGauges(shareQueueLag(deps.queueLag), registers);
  const tunnels = deps.tunnels;
  if (tunnels !== undefined) {
    new Gauge({
      name: 'switchyard_gateway_node_tunnels',
      help: 'Live tunnels each node holds to this gateway replica (0 or 1 normally; 2 while one replaces another).',
      labelNames: ['node'],
      registers,
      collect() {
        this.reset();
        for (const [node, count] of tunnels.tunnelCounts()) this.set({ node }, count);
      },
    });
  }

  return {
    registry,
    failover(nodeId, reason) {
      failovers.inc({ node: nodeLabel(nodeId), reason });
    },
    observe(res, route) {
      const started = performance.now();
      let model: string | undefined;
      let stream = false;
      let streaming = false;
      let outcome: ForwardOutcome | undefined;
      let closed = false;
      let settled = false;
      // The response can close before the handler has its outcome back (the close comes first), or the
      // handler can throw before the error handler answers: record once both are over.
      const record = () => {
        if (!closed || !settled) return;
        const status = outcome?.status ?? (res.headersSent ? res.statusCode : CLIENT_CLOSED);
        requests.inc({ route, status: String(status), model: modelLabel(model), node: nodeLabel(outcome?.nodeId) });
        const labels = { route, stream: String(stream) };
        duration.observe(labels, (performance.now() - started) / 1000);
        if (outcome?.ttfbMs !== undefined) ttfb.observe(labels, outcome.ttfbMs / 1000);
      };
      res.once('close', () => {
        if (streaming) activeStreams.dec();
        closed = true;
        record();
      });
      return {
        parsed(m, s) {
          model = m;
          stream = s;
        },
        rejected: (code) => rejections.inc({ reason: code }),
        sticky: (hit) => sticky.inc({ result: hit ? 'hit' : 'miss' }),
        forwarding() {
          if (!stream || streaming) return;
          streaming = true;
          activeStreams.inc();
        },
        forwarded(o) {
          outcome = o;
        },
        settled() {
          if (settled) return;
          settled = true;
          record();
        },
      };
    },
  };
}

function followLabelled(
  counter: Counter<'outcome'>,
  outcome: 'enqueued' | 'spooled' | 'replayed',
): (s: UsageRecorderStats) => void {
  let last = 0;
  return (s) => {
    const value = s[outcome];
    if (value > last) counter.inc({ outcome }, value - last);
    last = value;
  };
}

/** The usage queue states the gateway exports (completed jobs are deleted at once; nothing is prioritised). */
export const USAGE_QUEUE_DEPTH_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * The usage queue's lag and depth from one read per scrape. A read that fails or misses its deadline leaves
 * both series absent for that scrape (never a stale value) and the scrape itself succeeds.
 */
function registerQueueLagGauges(read: QueueLagReader, registers: Registry[]): void {
  new Gauge({
    name: 'switchyard_usage_queue_lag_seconds',
    help: 'How long the oldest waiting usage job has waited to be counted (0 when none waits; absent while the queue cannot be read). Budgets follow the counted totals, so they trail by this much.',
    registers,
    async collect() {
      const lag = await read();
      // Not reset(): an unlabelled gauge resets to 0, which would read as "no lag" while the queue is unknown.
      if (lag === undefined) this.remove();
      else this.set(lag.lagSeconds);
    },
  });
  new Gauge({
    name: 'switchyard_usage_queue_jobs',
    help: 'Usage jobs in the queue by state: waiting, active, delayed, failed (absent while the queue cannot be read).',
    labelNames: ['state'],
    registers,
    async collect() {
      this.reset();
      const lag = await read();
      if (lag !== undefined) for (const state of USAGE_QUEUE_DEPTH_STATES) this.set({ state }, lag.depth[state]);
    },
  });
}

/** Per node, from the registry snapshot at scrape time (a node that left the fleet leaves the gauges). */
function registerFleetGauges(deps: GatewayMetricsDeps, registers: Registry[]): void {
  const fleet = () => fleetSeries(deps.registry.nodes(), deps.now());
  new Gauge({
    name: 'switchyard_gateway_node_state',
    help: "Each node's state as this gateway routes on it: 1 for the current state, 0 for the others.",
    labelNames: ['node', 'state'],
    registers,
    collect() {
      this.reset();
      for (const n of fleet())
        for (const state of NODE_STATES) this.set({ node: n.nodeId, state }, n.state === state ? 1 : 0);
    },
  });
  new Gauge({
    name: 'switchyard_gateway_node_limited_until_timestamp_seconds',
    help: 'While a node is rate-limited as a whole: when the limit lifts (Unix time).',
    labelNames: ['node'],
    registers,
    collect() {
      this.reset();
      for (const n of fleet()) if (n.limitedUntil !== undefined) this.set({ node: n.nodeId }, n.limitedUntil);
    },
  });
  new Gauge({
    name: 'switchyard_gateway_node_family_limited_until_timestamp_seconds',
    help: 'While one model family of a node is rate-limited: when that limit lifts (Unix time).',
    labelNames: ['node', 'family'],
    registers,
    collect() {
      this.reset();
      for (const n of fleet()) for (const f of n.families) this.set({ node: n.nodeId, family: f.family }, f.until);
    },
  });
  new Gauge({
    name: 'switchyard_gateway_node_utilization_ratio',
    help: "A node's used share of its unified 5h or 7d window, as Anthropic last reported it (1 = the limit).",
    labelNames: ['node', 'window'],
    registers,
    collect() {
      this.reset();
      for (const n of fleet())
        for (const w of n.windows)
          if (w.utilization !== undefined) this.set({ node: n.nodeId, window: w.window }, w.utilization);
    },
  });
  new Gauge({
    name: 'switchyard_gateway_node_window_reset_timestamp_seconds',
    help: "When a node's unified 5h or 7d window resets (Unix time).",
    labelNames: ['node', 'window'],
    registers,
    collect() {
      this.reset();
      for (const n of fleet())
        for (const w of n.windows)
          if (w.resetsAt !== undefined) this.set({ node: n.nodeId, window: w.window }, w.resetsAt);
    },
  });
  new Gauge({
    name: 'switchyard_gateway_node_in_flight_requests',
    help: 'Requests this gateway has open on each node now.',
    labelNames: ['node'],
    registers,
    collect() {
      this.reset();
      for (const n of deps.registry.nodes())
        this.set({ node: n.record.nodeId }, deps.forwarder.inFlight(n.record.nodeId));
    },
  });
}
