#!/usr/bin/env node
// `npm test`: type-check everything (test code included), lint, check the formatting, then run both jest projects.
// Ends with one plain line "tests: N passed, N failed, N skipped" so any CI can read the outcome.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const extra = process.argv.slice(2);
const run = (cmd, args) => spawnSync(cmd, args, { stdio: 'inherit', shell: false }).status ?? 1;

function step(name, status) {
  if (status !== 0) {
    console.error(`\n${name} failed (exit ${status}).`);
    console.log('tests: 0 passed, 1 failed');
    process.exit(status || 1);
  }
}

if (extra.length === 0) {
  step('typecheck', run('npx', ['tsc', '-p', 'tsconfig.check.json']));
  step('lint', run('npx', ['eslint', '--max-warnings', '0', '.']));
  step('format', run('npx', ['prettier', '--check', '.']));
}

const dir = mkdtempSync(join(tmpdir(), 'sy-jest-'));
const out = join(dir, 'results.json');
// --forceExit: a failed test that leaves a connection open must end the run red, not hang it (and CI with it)
// until its time runs out; jest still names the leak when it has to force the exit.
const status = run('npx', ['jest', '--json', '--forceExit', `--outputFile=${out}`, ...extra]);
let summary = {
  numPassedTests: 0,
  numFailedTests: 0,
  numPendingTests: 0,
  numTotalTestSuites: 0,
  numFailedTestSuites: 0,
};
try {
  summary = JSON.parse(readFileSync(out, 'utf8'));
} catch {
  summary.numFailedTests = 1;
}
rmSync(dir, { recursive: true, force: true });
const failed = summary.numFailedTests + (summary.numRuntimeErrorTestSuites ?? 0);
console.log(`\ntests: ${summary.numPassedTests} passed, ${failed} failed, ${summary.numPendingTests} skipped`);
process.exit(status === 0 && failed === 0 ? 0 : status || 1);
