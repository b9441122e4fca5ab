// Quota foresight: when each account runs out at its recent burn, and the fleet alert (docs/FORESIGHT.md).
export { createForesight } from './foresight-tracker.js';
export type { FleetForesight, Foresight, ForesightDeps } from './foresight-tracker.js';
export { fleetExhaustion } from './fleet-exhaustion.js';
export type { FleetMember } from './fleet-exhaustion.js';
export { predictAccount, recordAccount, WINDOWS } from './node-foresight.js';
export type { NodeForesight, NodeHistory, WindowName } from './node-foresight.js';
export { DEFAULT_HISTORY_OPTIONS, predictWindow, recordReading } from './window-history.js';
export type {
  HistoryOptions,
  UtilizationSample,
  WindowForesight,
  WindowHistory,
  WindowReading,
} from './window-history.js';
