// Forwarding to nodes through their tunnels: header policy, failover before the first byte, frame-aligned SSE relay.
export { createForwarder } from './create-forwarder.js';
export { isFailoverStatus, wirePath, withTraceResponse } from './header-policy.js';
export type {
  FailoverReason,
  ForwardJob,
  ForwardOutcome,
  Forwarder,
  ForwarderDeps,
  ForwardTrace,
  HopTrace,
  ResponseObserver,
} from './types.js';
export { createRandomPool } from './random-pool.js';
