// Prometheus metrics of the gateway (and the pieces the usage worker's registry shares).
export { createGatewayMetrics } from './gateway-metrics.js';
export type { GatewayMetrics, GatewayMetricsDeps, ProxyMetrics, RequestObservation } from './gateway-metrics.js';
export { NODE_STATES, fleetSeries } from './fleet-series.js';
export type { NodeSeries, WindowSeries } from './fleet-series.js';
export { createLabelLimiter } from './label-limiter.js';
export type { LabelLimiter } from './label-limiter.js';
