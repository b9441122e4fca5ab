// The fake Anthropic upstream in its own process, so a benchmark's upstream never shares an event loop
// (or a CPU's worth of work) with the client that measures it.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { baseChildEnv } from './config.js';
import type {
  FakeProcessCommand,
  FakeProcessMessage,
  FakeProcessOptions,
  PlainTiming,
} from './fake-anthropic/process-protocol.js';
import type { AccountInfo, UsageTotals } from './fake-anthropic/types.js';

export type { FakeProcessOptions, PlainTiming } from './fake-anthropic/process-protocol.js';

/** A fake Anthropic upstream running in a child process. */
export interface FakeAnthropicProcess {
  readonly url: string;
  readonly pid: number;
  readonly accounts: AccountInfo[];
  /** Changes the pacing of every response that starts after the call resolves. */
  setTiming(timing: Partial<PlainTiming>): Promise<void>;
  /** Requests whose response has not closed yet. */
  openRequests(): Promise<number>;
  /** Resolves (with the count) once at most `atMost` requests are open; rejects after `timeoutMs`. */
  waitOpenRequests(atMost: number, timeoutMs?: number): Promise<number>;
  usageTotals(): Promise<UsageTotals>;
  /** Stops the fake (open streams are cut) and waits for the process to exit; SIGKILL after 3 s. */
  stop(): Promise<void>;
}

// A command without its id (Omit over each member of the union).
type Command = FakeProcessCommand extends infer C ? (C extends unknown ? Omit<C, 'id'> : never) : never;

/**
 * Starts the fake in a child process (from TypeScript source through tsx, with `cwd` as the repo root)
 * and resolves once it listens. By default one API-key account `key-1` and no recorded bodies.
 * @example
 * const fake = await startFakeAnthropicProcess({ options: { timing: { deltaIntervalMs: 2, textDeltas: 5 } } });
 * const apiKey = fake.accounts[0]?.apiKey;
 * await fake.setTiming({ firstByteDelayMs: 20 });
 * await fake.stop();
 */
export function startFakeAnthropicProcess(
  opts: { options?: FakeProcessOptions; cwd?: string; startTimeoutMs?: number } = {},
): Promise<FakeAnthropicProcess> {
  const cwd = opts.cwd ?? process.cwd();
  const entry = resolve(cwd, 'testkit/src/fake-anthropic/process-main.ts');
  const child = spawn(
    process.execPath,
    ['--conditions=source', '--import', 'tsx', entry, JSON.stringify(opts.options ?? {})],
    {
      cwd,
      env: baseChildEnv(),
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString('utf8')).slice(-4_000);
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const waiting = new Map<number, { resolve(value: unknown): void; reject(err: Error): void }>();
  let nextId = 1;
  child.on('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`fake-anthropic process exited (${code ?? signal})`));
    waiting.clear();
  });

  function call<T>(command: Command): Promise<T> {
    const id = nextId++;
    return new Promise<T>((resolveCall, reject) => {
      if (!child.connected) return reject(new Error('fake-anthropic process is not running'));
      waiting.set(id, { resolve: (v) => resolveCall(v as T), reject });
      child.send({ ...command, id });
    });
  }

  return new Promise((resolveStart, rejectStart) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectStart(new Error(`fake-anthropic process did not start in time\n${stderr}`));
    }, opts.startTimeoutMs ?? 20_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      rejectStart(new Error(`fake-anthropic process exited with ${code ?? 'a signal'} before it listened\n${stderr}`));
    });
    child.on('message', (raw) => {
      const message = raw as FakeProcessMessage;
      if (message.kind === 'reply') {
        const w = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.ok) w?.resolve(message.value);
        else w?.reject(new Error(message.error));
        return;
      }
      clearTimeout(timer);
      resolveStart({
        url: message.url,
        pid: child.pid ?? -1,
        accounts: message.accounts,
        setTiming: (timing) => call<void>({ op: 'setTiming', timing }),
        openRequests: () => call<number>({ op: 'openRequests' }),
        waitOpenRequests: (atMost, timeoutMs = 10_000) => call<number>({ op: 'waitOpenRequests', atMost, timeoutMs }),
        usageTotals: () => call<UsageTotals>({ op: 'usageTotals' }),
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          await call({ op: 'stop' }).catch(() => undefined);
          const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
          await exited;
          clearTimeout(timer);
        },
      });
    });
  });
}
