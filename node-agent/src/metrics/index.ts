// Prometheus metrics of the node-agent.
export { createNodeMetrics, refreshOutcomeLabel } from './node-metrics.js';
export type { NodeMetrics, NodeMetricsDeps } from './node-metrics.js';
