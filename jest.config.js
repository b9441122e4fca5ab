// Two projects: unit tests (no sockets, no Redis) and integration tests (*.int.test.ts: real Redis, real HTTP on loopback).
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

const common = {
  testEnvironment: 'node',
  transform: { '^.+\\.ts$': swc },
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^@switchyard/shared$': '<rootDir>/shared/src/index.ts',
    '^@switchyard/testkit$': '<rootDir>/testkit/src/index.ts',
    '^@switchyard/testkit/store-contract$': '<rootDir>/testkit/src/store-contract.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  rootDir: '.',
};

export default {
  globalSetup: '<rootDir>/test/global-setup.ts',
  globalTeardown: '<rootDir>/test/global-teardown.ts',
  testTimeout: 30_000,
  // Two test files at a time, whatever the machine: the integration tests mostly wait on processes and sockets, so
  // a second worker halves the suite on 2 cores (645 s to 413 s), and no test leans on timing.
  maxWorkers: 2,
  projects: [
    {
      ...common,
      displayName: 'unit',
      testMatch: ['<rootDir>/{shared,gateway,node-agent,cli,testkit}/src/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: [...common.testPathIgnorePatterns, '\\.int\\.test\\.ts$'],
    },
    {
      ...common,
      displayName: 'integration',
      testMatch: [
        '<rootDir>/{shared,gateway,node-agent,cli,testkit}/src/**/*.int.test.ts',
        '<rootDir>/test/**/*.int.test.ts',
        '<rootDir>/bench/**/*.int.test.ts',
      ],
    },
  ],
};
