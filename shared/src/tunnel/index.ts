export * from './protocol.js';
export * from './node-report.js';
export { guardEmptyWrites } from './empty-write-guard.js';
