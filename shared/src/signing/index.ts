export * from './sign-request.js';
