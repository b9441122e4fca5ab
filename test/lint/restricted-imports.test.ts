// The import boundaries eslint.config.js draws, proven on planted code: production code (each package's src/, less
// its tests and test-harness.ts files) may not import the test kit, by package name or by relative path, while
// tests, test harnesses, the root test/ and the kit itself may; and the older boundaries (the gateway and the node
// never import each other, the kernel imports no app, only the worker tokenises) still hold beside the new one.
// ESLint resolves each path's configuration in a child process (its config is an ES module, which jest's module
// system does not load); the rule it resolves then runs here on the planted lines.
import { execFileSync } from 'node:child_process';
import { Linter } from 'eslint';

const ROOT = process.cwd();

type RuleEntry = Linter.RuleEntry;

/** The no-restricted-imports entry ESLint resolves for each path (none when the rule is off there). */
function resolvedRules(paths: string[]): Record<string, RuleEntry | undefined> {
  const script = `
    import { ESLint } from 'eslint';
    const eslint = new ESLint({ cwd: process.cwd() });
    const out = {};
    for (const path of JSON.parse(process.argv[1])) {
      out[path] = (await eslint.calculateConfigForFile(path))?.rules?.['no-restricted-imports'];
    }
    process.stdout.write(JSON.stringify(out));
  `;
  const json = execFileSync(process.execPath, ['--input-type=module', '-e', script, JSON.stringify(paths)], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(json) as Record<string, RuleEntry | undefined>;
}

/** The messages no-restricted-imports gives the planted import at `path`, under that path's resolved entry. */
function restrictedImportMessages(entry: RuleEntry | undefined, importLine: string): string[] {
  if (entry === undefined) return [];
  const linter = new Linter();
  return linter
    .verify(importLine, [{ languageOptions: { sourceType: 'module' }, rules: { 'no-restricted-imports': entry } }])
    .map((m) => m.message);
}

const PRODUCTION = [
  'gateway/src/app.ts',
  'gateway/src/routing/planted.ts',
  'gateway/src/usage-worker/planted.ts',
  'node-agent/src/main.ts',
  'node-agent/src/fleet/planted.ts',
  'shared/src/index.ts',
  'shared/src/redis/planted.ts',
  'cli/src/planted.ts',
];
const TEST_SIDE = [
  'gateway/src/routing/planted.test.ts',
  'gateway/src/tunnel/test-harness.ts',
  'node-agent/src/credentials/test-harness.ts',
  'node-agent/src/http/planted.int.test.ts',
  'shared/src/redis/store.int.test.ts',
  'cli/src/planted.int.test.ts',
  'test/chain/planted.int.test.ts',
  'bench/planted.ts',
  'scripts/planted.ts',
  'testkit/src/stack/planted.ts',
];
const TESTKIT_IMPORTS = [
  "import { waitFor } from '@switchyard/testkit';",
  "import { describeStoreContract } from '@switchyard/testkit/store-contract';",
  "import { waitFor } from '../../../testkit/src/wait-for.js';",
];

const rules = resolvedRules([...PRODUCTION, ...TEST_SIDE]);

describe('production code never imports the test kit', () => {
  it.each(PRODUCTION)('%s: every way to the kit is refused, naming the rule', (path) => {
    for (const line of TESTKIT_IMPORTS) {
      const messages = restrictedImportMessages(rules[path], line);
      expect({ line, messages }).toEqual({
        line,
        messages: [expect.stringContaining('Production code never imports the test kit')],
      });
    }
  });

  it.each(TEST_SIDE)('%s: tests, test harnesses and the kit itself may use it', (path) => {
    for (const line of TESTKIT_IMPORTS) expect(restrictedImportMessages(rules[path], line)).toEqual([]);
  });

  it('a production module importing the kernel is fine', () => {
    for (const path of PRODUCTION)
      expect(restrictedImportMessages(rules[path], "import { loadConfig } from '@switchyard/shared';")).toEqual([]);
  });
});

describe('the other boundaries hold beside it', () => {
  const refused = (path: string, line: string) => restrictedImportMessages(rules[path], line).length > 0;

  it('the gateway never imports the node-agent, in its code and its tests alike', () => {
    for (const path of [
      'gateway/src/app.ts',
      'gateway/src/routing/planted.test.ts',
      'gateway/src/tunnel/test-harness.ts',
    ])
      expect(refused(path, "import { x } from '../../node-agent/src/main.js';")).toBe(true);
  });

  it('the node-agent never imports the gateway', () => {
    for (const path of ['node-agent/src/main.ts', 'node-agent/src/credentials/test-harness.ts'])
      expect(refused(path, "import { x } from '@switchyard/gateway';")).toBe(true);
  });

  it('the kernel imports no app', () => {
    for (const path of ['shared/src/index.ts', 'shared/src/redis/store.int.test.ts'])
      expect(refused(path, "import { x } from '@switchyard/node-agent';")).toBe(true);
  });

  it('only the usage worker tokenises', () => {
    expect(refused('gateway/src/routing/planted.ts', "import { getEncoding } from 'js-tiktoken';")).toBe(true);
    expect(refused('gateway/src/usage-worker/planted.ts', "import { getEncoding } from 'js-tiktoken';")).toBe(false);
  });

  it('the test kit imports no app (it starts them as processes)', () => {
    expect(refused('testkit/src/stack/planted.ts', "import { x } from '../../../gateway/src/nodes/index.js';")).toBe(
      true,
    );
    expect(refused('testkit/src/stack/planted.ts', "import { x } from '@switchyard/shared';")).toBe(false);
  });
});
