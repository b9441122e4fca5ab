// The gateway's Prometheus registry: counters the request path feeds (here), and gauges read at scrape time
// from the registry snapshot, the forwarder, the usage recorder and the usage queue (scraped-series.ts).
import type { ServerResponse } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { GatewayStats } from '../http/proxy-routes.js';
import type { FailoverReason, ForwardOutcome } from '../proxy/index.js';
import type { RegistrySnapshot } from '../routing/index.js';
import type { UsageRecorderStats } from '../usage/index.js';
import { shareQueueLag, type QueueLagReader } from '../usage/queue-lag.js';
import { createLabelLimiter, type LabelLimiter } from './label-limiter.js';
import {
  registerBuildInfo,
  registerFleetGauges,
  registerQueueLagGauges,
  registerRegistryUp,
  registerTunnelGauge,
  registerUsageSeries,
} from './scraped-series.js';

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

/** The series the request path feeds, and the limiters of its client-chosen label values. */
interface RequestSeries {
  requests: Counter<'route' | 'status' | 'model' | 'node'>;
  duration: Histogram<'route' | 'stream'>;
  ttfb: Histogram<'route' | 'stream'>;
  activeStreams: Gauge;
  failovers: Counter<'node' | 'reason'>;
  sticky: Counter<'result'>;
  rejections: Counter<'reason'>;
  modelLabel: LabelLimiter;
  nodeLabel: LabelLimiter;
}

/**
 * Creates the registry with default process metrics (prefixed `switchyard_`) and every gateway series.
 * Nothing is read at creation; the gauges read their sources when scraped.
 * @example
 * const metrics = createGatewayMetrics({ registry, forwarder, stats, usage, now: Date.now, version, gitSha });
 * createMetricsHandler({ source: metrics.registry, token });
 */
export function createGatewayMetrics(deps: GatewayMetricsDeps): GatewayMetrics {
  return new PrometheusGatewayMetrics(deps);
}

class PrometheusGatewayMetrics implements GatewayMetrics {
  readonly registry = new Registry();
  readonly #series: RequestSeries;

  // The series are registered in this order, which is the order /metrics lists them in.
  constructor(deps: GatewayMetricsDeps) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'switchyard_' });
    registerBuildInfo(registers, deps);
    this.#series = registerRequestSeries(registers);
    registerUsageSeries(registers, deps);
    registerRegistryUp(registers, deps);
    registerFleetGauges(registers, deps);
    if (deps.queueLag !== undefined) registerQueueLagGauges(registers, shareQueueLag(deps.queueLag));
    if (deps.tunnels !== undefined) registerTunnelGauge(registers, deps.tunnels);
  }

  failover(nodeId: string, reason: FailoverReason): void {
    this.#series.failovers.inc({ node: this.#series.nodeLabel(nodeId), reason });
  }

  observe(res: ServerResponse, route: string): RequestObservation {
    return new ObservedRequest(this.#series, res, route);
  }
}

function registerRequestSeries(registers: Registry[]): RequestSeries {
  return {
    requests: new Counter({
      name: 'switchyard_gateway_requests_total',
      help: 'Proxied requests by route, the status the client got, the model asked for and the node that answered (none: no node).',
      labelNames: ['route', 'status', 'model', 'node'],
      registers,
    }),
    duration: new Histogram({
      name: 'switchyard_gateway_request_duration_seconds',
      help: 'Proxied requests from arrival to the end of the response.',
      labelNames: ['route', 'stream'],
      buckets: DURATION_BUCKETS,
      registers,
    }),
    ttfb: new Histogram({
      name: 'switchyard_gateway_time_to_first_byte_seconds',
      help: 'From forwarding to the first response body byte written to the client.',
      labelNames: ['route', 'stream'],
      buckets: TTFB_BUCKETS,
      registers,
    }),
    activeStreams: new Gauge({
      name: 'switchyard_gateway_active_streams',
      help: 'Streamed requests being answered now.',
      registers,
    }),
    failovers: new Counter({
      name: 'switchyard_gateway_failovers_total',
      help: 'Times a request moved on to another node before the first byte, by the node left and why.',
      labelNames: ['node', 'reason'],
      registers,
    }),
    sticky: new Counter({
      name: 'switchyard_gateway_sticky_lookups_total',
      help: 'Requests of a known conversation (hit: its node was available and chosen first) or a new or moved one (miss).',
      labelNames: ['result'],
      registers,
    }),
    rejections: new Counter({
      name: 'switchyard_gateway_rejections_total',
      help: 'Requests the gateway answered itself before any node, by error code (unauthenticated, rate_limited, overloaded, ...).',
      labelNames: ['reason'],
      registers,
    }),
    modelLabel: createLabelLimiter(50),
    nodeLabel: createLabelLimiter(200),
  };
}

/**
 * One request from its arrival to the close of its response. The response can close before the handler has
 * its outcome back (the close comes first), or the handler can throw before the error handler answers:
 * it is recorded once both are over.
 */
class ObservedRequest implements RequestObservation {
  readonly #series: RequestSeries;
  readonly #res: ServerResponse;
  readonly #route: string;
  readonly #started = performance.now();
  #model: string | undefined;
  #stream = false;
  #streaming = false;
  #outcome: ForwardOutcome | undefined;
  #closed = false;
  #settled = false;

  constructor(series: RequestSeries, res: ServerResponse, route: string) {
    this.#series = series;
    this.#res = res;
    this.#route = route;
    res.once('close', () => {
      if (this.#streaming) series.activeStreams.dec();
      this.#closed = true;
      this.#record();
    });
  }

  parsed(model: string | undefined, stream: boolean): void {
    this.#model = model;
    this.#stream = stream;
  }

  rejected(code: string): void {
    this.#series.rejections.inc({ reason: code });
  }

  sticky(hit: boolean): void {
    this.#series.sticky.inc({ result: hit ? 'hit' : 'miss' });
  }

  forwarding(): void {
    if (!this.#stream || this.#streaming) return;
    this.#streaming = true;
    this.#series.activeStreams.inc();
  }

  forwarded(outcome: ForwardOutcome): void {
    this.#outcome = outcome;
  }

  settled(): void {
    if (this.#settled) return;
    this.#settled = true;
    this.#record();
  }

  #record(): void {
    if (!this.#closed || !this.#settled) return;
    const { requests, duration, ttfb, modelLabel, nodeLabel } = this.#series;
    const outcome = this.#outcome;
    const status = outcome?.status ?? (this.#res.headersSent ? this.#res.statusCode : CLIENT_CLOSED);
    const route = this.#route;
    requests.inc({ route, status: String(status), model: modelLabel(this.#model), node: nodeLabel(outcome?.nodeId) });
    const labels = { route, stream: String(this.#stream) };
    duration.observe(labels, (performance.now() - this.#started) / 1000);
    if (outcome?.ttfbMs !== undefined) ttfb.observe(labels, outcome.ttfbMs / 1000);
  }
}
