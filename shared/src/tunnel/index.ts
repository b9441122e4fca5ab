export * from './protocol.js';
export * from './node-report.js';
