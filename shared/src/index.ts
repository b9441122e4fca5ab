// The kernel's public surface. Nothing here does I/O at import time.
export * from './config/index.js';
export * from './logging/index.js';
export * from './errors/index.js';
export * from './redis/index.js';
export * from './queues/index.js';
export * from './anthropic/index.js';
export * from './http/index.js';
export * from './usage/index.js';
export * from './async/index.js';
export * from './identity/index.js';
export * from './tunnel/index.js';
export * from './alerts/index.js';
export * from './pricing/index.js';
export * from './tracing/index.js';
