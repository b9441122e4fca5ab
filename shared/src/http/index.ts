export * from './bearer-token.js';
export * from './read-body.js';
export * from './header-policy.js';
export * from './metrics-endpoint.js';
export * from './metrics-listener.js';
export * from './health-probe.js';
