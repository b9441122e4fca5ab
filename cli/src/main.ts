// The `switchyard` command (cli/bin/switchyard.js runs this).
import { readCliEnv } from './config.js';
import { runCli } from './run.js';

// `switchyard keys list | head` closes stdout early: that is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

process.exitCode = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: readCliEnv(),
  nowMs: Date.now(),
});
