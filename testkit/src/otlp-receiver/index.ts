export * from './decode-traces.js';
export * from './otlp-receiver.js';
