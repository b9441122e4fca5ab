// Alerts raised on the gateway side: ids, the sink that queues them for the usage worker, and the fleet watcher.
export {
  alertIds,
  alertJobId,
  deliveryJobId,
  urlDigest,
  BUDGET_THRESHOLDS,
  type BudgetKind,
  type BudgetThreshold,
} from './alert-ids.js';
export {
  createQueueAlertSink,
  type AlertQueue,
  type QueueAlertSink,
  type QueueAlertSinkDeps,
} from './queue-alert-sink.js';
export { createFleetWatcher, type FleetWatcher, type FleetWatcherDeps } from './fleet-watcher.js';
export { budgetRefusalAlert, budgetRefusalAlerts } from './budget-refusal-alerts.js';
