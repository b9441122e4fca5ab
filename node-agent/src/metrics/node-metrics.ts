// The node-agent's Prometheus registry: its traffic, Anthropic's answers, OAuth refreshes, and the
// account's state and rate-limit figures (read at scrape time).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AccountStatusSchema, effectiveState, type AccountState } from '@switchyard/shared';
import type { RefreshOutcome } from '../credentials/index.js';

/** What the request path and the credential layer report. */
export interface NodeMetrics {
  readonly registry: Registry;
  /** A request to this node ended (status the gateway got; 499 when it left before a head). */
  request(route: string, status: number, durationMs: number, upstreamTtfbMs: number | undefined): void;
  /** Anthropic answered (every answer, a 401 replayed after a refresh too). */
  upstreamResponse(status: number, model: string | undefined): void;
  /** A tunnel dial ended: open, refused_<status>, or unreachable. */
  tunnelDial(outcome: string): void;
  /** An OAuth refresh run ended. */
  refresh(outcome: RefreshOutcome): void;
}

export interface NodeMetricsDeps {
  nodeId: string;
  accountKind: 'oauth' | 'api_key';
  version: string;
  gitSha: string;
  account: { current(): AccountState };
  gate: { readonly inFlight: number };
  /** The replicas this node has a tunnel to now. */
  tunnels?: () => readonly string[];
  now(): number;
}

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];
const TTFB_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const MAX_MODELS = 50;

/** The refresh outcome as one label value: success, needs_login, or why it will be retried. */
export function refreshOutcomeLabel(outcome: RefreshOutcome): string {
  if (outcome.kind === 'fresh') return 'success';
  if (outcome.kind === 'needs_login') return 'needs_login';
  return `failed_${outcome.reason}`;
}

/**
 * Creates the registry with default process metrics (prefixed `switchyard_`) and the node's series.
 * @example
 * const metrics = createNodeMetrics({ nodeId, accountKind: auth.kind, version, gitSha, account, gate, now: Date.now });
 */
export function createNodeMetrics(deps: NodeMetricsDeps): NodeMetrics {
  const registry = new Registry();
  const registers = [registry];
  collectDefaultMetrics({ register: registry, prefix: 'switchyard_' });
  registerBuildGauges(deps, registers);
  const series = registerRecordedSeries(registers);
  registerLoadGauges(deps, registers);
  registerAccountStateGauges(deps, registers);
  registerAccountWindowGauges(deps, registers);
  const models = new Set<string>();
  return {
    registry,
    request(route, status, durationMs, upstreamTtfbMs) {
      series.requests.inc({ route, status: String(status) });
      series.duration.observe({ route }, durationMs / 1000);
      if (upstreamTtfbMs !== undefined) series.upstreamTtfb.observe({ route }, upstreamTtfbMs / 1000);
    },
    upstreamResponse: (status, model) =>
      series.upstream.inc({ status: String(status), model: modelLabel(models, model) }),
    tunnelDial: (outcome) => series.dials.inc({ outcome }),
    refresh: (outcome) => series.refreshes.inc({ outcome: refreshOutcomeLabel(outcome) }),
  };
}

/** The model as a label value: the first MAX_MODELS distinct names as they are, later ones (and long ones) 'other'. */
function modelLabel(models: Set<string>, model: string | undefined): string {
  if (model === undefined || model === '') return 'none';
  if (models.has(model)) return model;
  if (models.size >= MAX_MODELS || model.length > 100) return 'other';
  models.add(model);
  return model;
}

/** Who this node is and which build it runs (always 1). */
function registerBuildGauges(deps: NodeMetricsDeps, registers: Registry[]): void {
  new Gauge({
    name: 'switchyard_node_info',
    help: 'This node and its build (always 1).',
    labelNames: ['node', 'account_kind', 'version', 'git_sha'],
    registers,
  }).set({ node: deps.nodeId, account_kind: deps.accountKind, version: deps.version, git_sha: deps.gitSha }, 1);
  new Gauge({
    name: 'switchyard_build_info',
    help: "The build this process runs: its release line's version and git sha (always 1; one series per process).",
    labelNames: ['service', 'version', 'git_sha'],
    registers,
  }).set({ service: 'node-agent', version: deps.version, git_sha: deps.gitSha }, 1);
}

/** The series the request path and the credential layer write through NodeMetrics. */
function registerRecordedSeries(registers: Registry[]) {
  return {
    requests: new Counter({
      name: 'switchyard_node_requests_total',
      help: 'Requests to this node by route and the status the gateway got.',
      labelNames: ['route', 'status'],
      registers,
    }),
    duration: new Histogram({
      name: 'switchyard_node_request_duration_seconds',
      help: 'Requests to this node, from arrival to the end of the response.',
      labelNames: ['route'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    upstreamTtfb: new Histogram({
      name: 'switchyard_node_upstream_response_seconds',
      help: "From a request's arrival to Anthropic's response head (the upstream latency this node saw).",
      labelNames: ['route'],
      buckets: TTFB_BUCKETS,
      registers,
    }),
    upstream: new Counter({
      name: 'switchyard_node_upstream_responses_total',
      help: "Anthropic's answers by status and the model asked for.",
      labelNames: ['status', 'model'],
      registers,
    }),
    dials: new Counter({
      name: 'switchyard_node_tunnel_dials_total',
      help: 'Tunnel dials to the gateway by outcome: open, refused_<status>, unreachable.',
      labelNames: ['outcome'],
      registers,
    }),
    refreshes: new Counter({
      name: 'switchyard_node_oauth_refreshes_total',
      help: 'OAuth refresh runs by outcome: success, needs_login, or failed_<reason> (status, timeout, network, malformed, rejected, lock, error).',
      labelNames: ['outcome'],
      registers,
    }),
  };
}

/** Tunnels and in-flight requests, read at scrape time. */
function registerLoadGauges(deps: NodeMetricsDeps, registers: Registry[]): void {
  new Gauge({
    name: 'switchyard_node_tunnels',
    help: 'Tunnels open to gateway replicas now.',
    registers,
    collect() {
      this.set(deps.tunnels?.().length ?? 0);
    },
  });
  new Gauge({
    name: 'switchyard_node_in_flight_requests',
    help: 'Requests this node is serving now.',
    registers,
    collect() {
      this.set(deps.gate.inFlight);
    },
  });
}

/** The account's state and when its rate limits lift, read at scrape time. */
function registerAccountStateGauges(deps: NodeMetricsDeps, registers: Registry[]): void {
  new Gauge({
    name: 'switchyard_node_account_state',
    help: "The account's state: 1 for the current one, 0 for the others.",
    labelNames: ['state'],
    registers,
    collect() {
      const current = effectiveState(deps.account.current(), deps.now());
      for (const state of AccountStatusSchema.options) this.set({ state }, state === current ? 1 : 0);
    },
  });
  new Gauge({
    name: 'switchyard_node_account_limited_until_timestamp_seconds',
    help: 'While the account is rate-limited as a whole: when the limit lifts (Unix time).',
    registers,
    collect() {
      this.reset();
      const state = deps.account.current();
      if (effectiveState(state, deps.now()) === 'limited' && state.limitedUntil !== undefined)
        this.set(Math.round(state.limitedUntil / 1000));
    },
  });
  new Gauge({
    name: 'switchyard_node_account_family_limited_until_timestamp_seconds',
    help: 'While one model family is rate-limited: when that limit lifts (Unix time).',
    labelNames: ['family'],
    registers,
    collect() {
      this.reset();
      const nowMs = deps.now();
      for (const [family, until] of Object.entries(deps.account.current().limitedFamilies ?? {}))
        if (until > nowMs) this.set({ family }, Math.round(until / 1000));
    },
  });
}

/** The account's unified 5h and 7d windows as Anthropic last reported them, read at scrape time. */
function registerAccountWindowGauges(deps: NodeMetricsDeps, registers: Registry[]): void {
  new Gauge({
    name: 'switchyard_node_account_utilization_ratio',
    help: "The account's used share of its unified 5h or 7d window, as Anthropic last reported it (1 = the limit).",
    labelNames: ['window'],
    registers,
    collect() {
      this.reset();
      const { fiveHour, sevenDay } = deps.account.current();
      if (fiveHour?.utilization !== undefined) this.set({ window: '5h' }, fiveHour.utilization);
      if (sevenDay?.utilization !== undefined) this.set({ window: '7d' }, sevenDay.utilization);
    },
  });
  new Gauge({
    name: 'switchyard_node_account_window_reset_timestamp_seconds',
    help: "When the account's unified 5h or 7d window resets (Unix time).",
    labelNames: ['window'],
    registers,
    collect() {
      this.reset();
      const { fiveHour, sevenDay } = deps.account.current();
      if (fiveHour?.resetAt !== undefined) this.set({ window: '5h' }, Math.round(fiveHour.resetAt / 1000));
      if (sevenDay?.resetAt !== undefined) this.set({ window: '7d' }, Math.round(sevenDay.resetAt / 1000));
    },
  });
}
