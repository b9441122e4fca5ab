// `npm run fake-anthropic -- --port N`: runs the fake until SIGINT/SIGTERM. Importing this file runs nothing.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseFakeCliArgs, startupLines } from './cli-options.js';
import { createFakeAnthropic } from './create-fake-anthropic.js';

async function main(): Promise<void> {
  const options = parseFakeCliArgs(process.argv.slice(2));
  const fake = createFakeAnthropic(options.fake);
  await fake.start({ port: options.port, host: options.host });
  for (const line of startupLines(fake)) process.stdout.write(`${line}\n`);
  const stop = () => void fake.stop().then(() => process.stdout.write('stopped\n'));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

const invokedAs = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (invokedAs === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 1;
  });
}
