// The fake Anthropic upstream in a process of its own, driven over IPC by startFakeAnthropicProcess()
// (argv[2]: FakeProcessOptions as JSON). It exits when its parent goes away.
import { createFakeAnthropic } from './create-fake-anthropic.js';
import type { FakeProcessCommand, FakeProcessMessage, FakeProcessOptions } from './process-protocol.js';
import type { FakeAnthropic } from './types.js';

function send(message: FakeProcessMessage): void {
  process.send?.(message);
}

function waitOpen(fake: FakeAnthropic, atMost: number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const deadline = performance.now() + timeoutMs;
    const check = (): void => {
      const open = fake.openRequests();
      if (open <= atMost) return resolve(open);
      if (performance.now() > deadline) return reject(new Error(`${open} requests still open after ${timeoutMs} ms`));
      setTimeout(check, 1);
    };
    check();
  });
}

async function answer(
  fake: FakeAnthropic,
  command: FakeProcessCommand,
): Promise<number | undefined | ReturnType<FakeAnthropic['usageTotals']>> {
  switch (command.op) {
    case 'setTiming':
      fake.setTiming(command.timing);
      return undefined;
    case 'openRequests':
      return fake.openRequests();
    case 'waitOpenRequests':
      return waitOpen(fake, command.atMost, command.timeoutMs);
    case 'usageTotals':
      return fake.usageTotals();
    case 'stop':
      await fake.stop();
      setImmediate(() => process.exit(0));
      return undefined;
  }
}

async function main(): Promise<void> {
  const options = JSON.parse(process.argv[2] ?? '{}') as FakeProcessOptions;
  const fake = createFakeAnthropic({
    accounts: options.accounts ?? [{ id: 'key-1', kind: 'api_key' }],
    timing: options.timing ?? {},
    recordBodies: options.recordBodies ?? false,
    recordLimit: options.recordLimit ?? 100,
  });
  const url = await fake.start({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  process.on('message', (raw) => {
    const command = raw as FakeProcessCommand;
    answer(fake, command).then(
      (value) => send({ kind: 'reply', id: command.id, ok: true, ...(value === undefined ? {} : { value }) }),
      (err: unknown) =>
        send({ kind: 'reply', id: command.id, ok: false, error: err instanceof Error ? err.message : String(err) }),
    );
  });
  process.once('disconnect', () => void fake.stop().finally(() => process.exit(0)));
  send({ kind: 'ready', url, accounts: fake.accounts() });
}

main().catch((err: unknown) => {
  process.stderr.write(`fake-anthropic process: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
