// Choosing a node: the registry snapshot (tunnel reports + drain flags), session keys, the sticky store and the pure choice.
export { availabilityOf, chooseNodes, stateOf, stickyTargetAfter } from './choose-nodes.js';
export type { NodeAvailability } from './choose-nodes.js';
export { createRegistrySnapshot } from './registry-snapshot.js';
export type { RegistrySnapshotDeps, ReportSource } from './registry-snapshot.js';
export { sessionKeyOf } from './session-key.js';
export { createStickyStore } from './sticky-store.js';
export type { StickyStoreDeps } from './sticky-store.js';
export type {
  ChooseOptions,
  ChooseResult,
  NodeView,
  RegistrySnapshot,
  SessionBody,
  SessionKey,
  SessionSource,
  StickyStore,
} from './types.js';
