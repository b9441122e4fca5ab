import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const envOnlyInConfig = {
  selector: "MemberExpression[object.name='process'][property.name='env']",
  message: "Only config modules read process.env: add the variable to this process's config schema.",
};

const APPS = ['@switchyard/gateway', '@switchyard/gateway/*', '@switchyard/node-agent', '@switchyard/node-agent/*'];
const NO_NODE_AGENT = {
  group: ['@switchyard/node-agent', '@switchyard/node-agent/*', '**/node-agent/**'],
  message: 'The gateway never imports the node-agent: share code through @switchyard/shared.',
};
const NO_GATEWAY = {
  group: ['@switchyard/gateway', '@switchyard/gateway/*', '**/gateway/**'],
  message: 'The node-agent never imports the gateway: share code through @switchyard/shared.',
};
const NO_APP = {
  group: ['@switchyard/gateway', '@switchyard/node-agent', '**/gateway/**', '**/node-agent/**'],
  message: 'The kernel depends on no app.',
};
const NO_TIKTOKEN = {
  group: ['js-tiktoken', 'js-tiktoken/*', '**/usage-worker/**'],
  message: 'Only the usage worker tokenises: the gateway process never loads js-tiktoken.',
};
const NO_TESTKIT = {
  group: ['@switchyard/testkit', '@switchyard/testkit/*', '**/testkit/**'],
  message: 'Production code never imports the test kit: only tests (*.test.ts) and test-harness.ts files do.',
};
// A package's production code: its src/, less its tests and per-module test harnesses (which tsc -b leaves out too).
const PRODUCTION = (workspace) => [`${workspace}/src/**/*.ts`];
const TEST_CODE = ['**/*.test.ts', '**/test-harness.ts'];

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { project: './tsconfig.check.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-syntax': ['error', envOnlyInConfig],
    },
  },
  {
    files: ['gateway/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_NODE_AGENT] }] },
  },
  {
    files: PRODUCTION('gateway'),
    ignores: TEST_CODE,
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_NODE_AGENT, NO_TESTKIT] }] },
  },
  {
    // The gateway process answers requests; tokenising is the worker's job (docs/MEASURED.md §5: 1.4 s and 139 MB to load).
    files: ['gateway/**/*.ts'],
    ignores: ['gateway/src/usage-worker/**', ...TEST_CODE],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_NODE_AGENT, NO_TIKTOKEN, NO_TESTKIT] }] },
  },
  {
    files: ['node-agent/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_GATEWAY] }] },
  },
  {
    files: PRODUCTION('node-agent'),
    ignores: TEST_CODE,
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_GATEWAY, NO_TESTKIT] }] },
  },
  {
    files: ['shared/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_APP] }] },
  },
  {
    files: PRODUCTION('shared'),
    ignores: TEST_CODE,
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_APP, NO_TESTKIT] }] },
  },
  {
    files: PRODUCTION('cli'),
    ignores: TEST_CODE,
    rules: { 'no-restricted-imports': ['error', { patterns: [NO_TESTKIT] }] },
  },
  {
    // The test kit starts the apps by path, as an operator does, and imports none of them.
    files: ['testkit/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: [...APPS, '**/gateway/**', '**/node-agent/**', '**/cli/**'],
              message: 'The test kit imports no app: start it as a process, or talk to it over HTTP.',
            },
          ],
        },
      ],
    },
  },
  {
    // Config modules, tests, the test harness, scripts and the benchmark may read the environment.
    files: ['**/config.ts', '**/config/*.ts', '**/*.test.ts', 'test/**', 'scripts/**', 'bench/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['**/*.test.ts', 'test/**'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The dashboard's page scripts (gateway/public): plain ES modules run by the browser, so browser globals and
    // none of Node's (the block above already turns the type-aware rules off for .js).
    files: ['gateway/public/**/*.js'],
    languageOptions: {
      sourceType: 'module',
      globals: { ...Object.fromEntries(Object.keys(globals.node).map((name) => [name, 'off'])), ...globals.browser },
    },
  },
);
