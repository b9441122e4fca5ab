// Small promise helpers every service uses.
export { DeadlineError, withDeadline } from './deadline.js';
