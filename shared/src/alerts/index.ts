export * from './alert-event.js';
