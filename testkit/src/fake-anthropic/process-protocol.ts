// The IPC messages between startFakeAnthropicProcess() and the fake running in its own process.
import type { AccountInfo, AccountSeed, Timing, UsageTotals } from './types.js';

/** Timing that can cross a process boundary (no function for the response text). */
export type PlainTiming = Omit<Timing, 'responseText'> & { responseText?: string };

/** What the child builds its fake from (a JSON-safe subset of FakeAnthropicOptions). */
export interface FakeProcessOptions {
  accounts?: AccountSeed[];
  timing?: Partial<PlainTiming>;
  recordBodies?: boolean;
  recordLimit?: number;
  host?: string;
  port?: number;
}

/** Parent → child: one command, answered by a reply with the same id. */
export type FakeProcessCommand =
  | { id: number; op: 'setTiming'; timing: Partial<PlainTiming> }
  | { id: number; op: 'openRequests' }
  /** Answers once at most `atMost` requests are open (with the count), or with an error after `timeoutMs`. */
  | { id: number; op: 'waitOpenRequests'; atMost: number; timeoutMs: number }
  | { id: number; op: 'usageTotals' }
  | { id: number; op: 'stop' };

/** Child → parent. */
export type FakeProcessMessage =
  | { kind: 'ready'; url: string; accounts: AccountInfo[] }
  | { kind: 'reply'; id: number; ok: true; value?: number | UsageTotals }
  | { kind: 'reply'; id: number; ok: false; error: string };
