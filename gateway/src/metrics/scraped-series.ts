// The gateway's series read at scrape time: its build, the usage recorder's and the route's own counts, the
// fleet as the registry snapshot shows it, the usage queue and the node tunnels. gateway-metrics.ts registers them.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { UsageRecorderStats } from '../usage/index.js';
import type { QueueLagReader } from '../usage/queue-lag.js';
import { NODE_STATES, fleetSeries, type NodeSeries } from './fleet-series.js';
import type { GatewayMetricsDeps } from './gateway-metrics.js';

export function registerBuildInfo(registers: Registry[], deps: Pick<GatewayMetricsDeps, 'version' | 'gitSha'>): void {
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
}

/** Keeps a Counter in step with a number kept elsewhere (the recorder's and the route's own counts). */
function follow(counter: Counter, read: () => number): () => void {
  let last = 0;
  return () => {
    const value = read();
    if (value > last) counter.inc(value - last);
    last = value;
  };
}

/** The route's requests without thinking, and the usage recorder's jobs, buffer and spool. */
export function registerUsageSeries(registers: Registry[], deps: Pick<GatewayMetricsDeps, 'stats' | 'usage'>): void {
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

export function registerRegistryUp(registers: Registry[], deps: Pick<GatewayMetricsDeps, 'registry'>): void {
  new Gauge({
    name: 'switchyard_gateway_registry_up',
    help: '1 when the last read of the fleet registry from Redis succeeded.',
    registers,
    collect() {
      this.set(deps.registry.redisHealthy() ? 1 : 0);
    },
  });
}

export function registerTunnelGauge(registers: Registry[], tunnels: NonNullable<GatewayMetricsDeps['tunnels']>): void {
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

/** The usage queue states the gateway exports (completed jobs are deleted at once; nothing is prioritised). */
export const USAGE_QUEUE_DEPTH_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * The usage queue's lag and depth from one read per scrape. A read that fails or misses its deadline leaves
 * both series absent for that scrape (never a stale value) and the scrape itself succeeds.
 */
export function registerQueueLagGauges(registers: Registry[], read: QueueLagReader): void {
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
export function registerFleetGauges(
  registers: Registry[],
  deps: Pick<GatewayMetricsDeps, 'registry' | 'forwarder' | 'now'>,
): void {
  const fleet = () => fleetSeries(deps.registry.nodes(), deps.now());
  registerNodeStateGauges(registers, fleet);
  registerNodeWindowGauges(registers, fleet);
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

/** Each node's state, and while it (or one of its model families) is limited, until when. */
function registerNodeStateGauges(registers: Registry[], fleet: () => NodeSeries[]): void {
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
}

/** Each node's unified 5h and 7d windows as Anthropic last reported them. */
function registerNodeWindowGauges(registers: Registry[], fleet: () => NodeSeries[]): void {
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
}
