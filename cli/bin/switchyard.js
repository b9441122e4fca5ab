#!/usr/bin/env node
// The `switchyard` command. Runs the built CLI (cli/dist) when its build is at least as new as every source file;
// in a fresh clone without a build, or after the source changed since the last build (a pull, an edit), it
// runs the TypeScript source through tsx, so `npx switchyard …` never runs stale code.
import { existsSync, readdirSync, statSync } from 'node:fs';

const built = new URL('../dist/main.js', import.meta.url);
// tsc -b rewrites its build info on every build that saw a changed source, even when no output changed.
const buildInfo = new URL('../dist/.tsbuildinfo', import.meta.url);
const srcDir = new URL('../src/', import.meta.url);

function builtIsCurrent() {
  if (!existsSync(built)) return false;
  if (!existsSync(srcDir)) return true; // shipped without its source
  const builtAt = statSync(existsSync(buildInfo) ? buildInfo : built).mtimeMs;
  return readdirSync(srcDir, { recursive: true })
    .filter((f) => String(f).endsWith('.ts') && !String(f).endsWith('.test.ts'))
    .every((f) => statSync(new URL(String(f), srcDir)).mtimeMs <= builtAt);
}

if (builtIsCurrent()) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/main.ts', import.meta.url).href);
}
