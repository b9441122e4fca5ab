#!/usr/bin/env node
// The `switchyard` command. Runs the built CLI (cli/dist) when there is one; in a fresh clone without a
// build it runs the TypeScript source through tsx, so `npx switchyard …` works right after `npm ci`.
import { existsSync } from 'node:fs';

const built = new URL('../dist/main.js', import.meta.url);
if (existsSync(built)) {
  await import(built.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('../src/main.ts', import.meta.url).href);
}
