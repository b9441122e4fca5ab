// Small promise helpers every service uses.
export { DeadlineError, withDeadline } from './deadline.js';
export { stopOnSignals, type StopLatch } from './stop-on-signals.js';
