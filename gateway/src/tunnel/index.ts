// The node tunnels on the gateway's side: joins, sessions, reports, and the agents the forwarder sends through.
export { createTunnelHub, type TunnelHub, type TunnelHubDeps } from './tunnel-hub.js';
export { LEASE_TTL_MS } from './node-lease.js';
export { REPLICA_LIVE_MS, type Replica } from './replica-registry.js';
