// Test fakes and helpers, imported as @switchyard/testkit (never by production code: lint forbids it).
export * from './config.js';
export * from './redis-server.js';
export * from './redis-keys.js';
export * from './nested-json.js';
export * from './silent-server.js';
export * from './tls.js';
export * from './spawn-service.js';
export * from './upstash-emulator.js';
export * from './memory-store.js';
export * from './fake-anthropic/index.js';
export * from './fake-anthropic-process.js';
export * from './seeded-random.js';
export * from './usage-fixtures.js';
export * from './stack/start-stack.js';
export * from './wait-for.js';
export * from './claude-code-request.js';
export * from './stack/reaper.js';
