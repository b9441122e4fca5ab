// Test-only preload: appends every module a process resolves (ESM and CommonJS) to the file named by
// TRACE_MODULES_FILE. Used as NODE_OPTIONS=--import=<this file> to show what a process never loads.
import { appendFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';

const file = process.env.TRACE_MODULES_FILE;
if (file) {
  const hook = `
    import { appendFileSync } from 'node:fs';
    export async function resolve(specifier, context, next) {
      const resolved = await next(specifier, context);
      appendFileSync(${JSON.stringify(file)}, resolved.url + '\\n');
      return resolved;
    }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
  const Module = createRequire(import.meta.url)('node:module');
  const original = Module._resolveFilename;
  Module._resolveFilename = function traced(...args) {
    const resolved = original.apply(this, args);
    appendFileSync(file, `${resolved}\n`);
    return resolved;
  };
}
