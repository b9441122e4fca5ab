export * from './create-logger.js';
export * from './redact.js';
