export * from './load-config.js';
export * from './env-types.js';
export * from './build-info.js';
export * from './metrics-exposure.js';
