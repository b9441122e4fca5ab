export * from './read-body.js';
export * from './header-policy.js';
