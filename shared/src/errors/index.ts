export * from './anthropic-error.js';
export * from './app-error.js';
export * from './error-code.js';
export * from './write-error.js';
