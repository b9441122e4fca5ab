import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

const envOnlyInConfig = {
  selector: "MemberExpression[object.name='process'][property.name='env']",
  message: "Only config modules read process.env: add the variable to this process's config schema.",
};

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
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@switchyard/node-agent', '@switchyard/node-agent/*', '**/node-agent/**'],
              message: 'The gateway never imports the node-agent: share code through @switchyard/shared.',
            },
          ],
        },
      ],
    },
  },
  {
    // The gateway process answers requests; tokenising is the worker's job (MEASURED.md: 1.4 s and 139 MB to load).
    files: ['gateway/**/*.ts'],
    ignores: ['gateway/src/usage-worker/**', '**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@switchyard/node-agent', '@switchyard/node-agent/*', '**/node-agent/**'],
              message: 'The gateway never imports the node-agent: share code through @switchyard/shared.',
            },
            {
              group: ['js-tiktoken', 'js-tiktoken/*', '**/usage-worker/**'],
              message: 'Only the usage worker tokenises: the gateway process never loads js-tiktoken.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['node-agent/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@switchyard/gateway', '@switchyard/gateway/*', '**/gateway/**'],
              message: 'The node-agent never imports the gateway: share code through @switchyard/shared.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@switchyard/gateway', '@switchyard/node-agent', '**/gateway/**', '**/node-agent/**'],
              message: 'The kernel depends on no app.',
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
