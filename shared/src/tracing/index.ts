export * from './tracing-config.js';
export * from './start-tracing.js';
export * from './semconv.js';
export * from './trace-context.js';
