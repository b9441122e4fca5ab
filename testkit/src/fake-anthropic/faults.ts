// Faults a test injects; each hits a number of matching requests, then disappears.
import type { Fault, FaultKind, RouteName } from './types.js';

/** What a request offers for fault matching. */
export interface FaultTarget {
  route: RouteName;
  accountId?: string;
  model?: string;
}

/** The injected faults. */
export interface FaultStore {
  inject(fault: Fault): void;
  /** Takes one hit of the first fault of the given kinds that matches the target. */
  take<K extends FaultKind>(target: FaultTarget, kinds: readonly K[]): Extract<Fault, { kind: K }> | undefined;
  clear(): void;
  pending(): Fault[];
}

const TOKEN_KINDS: readonly FaultKind[] = ['token_error', 'token_timeout', 'token_invalid_grant'];

function defaultRoute(kind: FaultKind): RouteName {
  return TOKEN_KINDS.includes(kind) ? 'token' : 'messages';
}

function matches(fault: Fault, target: FaultTarget): boolean {
  const match = fault.match ?? {};
  if ((match.route ?? defaultRoute(fault.kind)) !== target.route) return false;
  if (match.accountId !== undefined && match.accountId !== target.accountId) return false;
  if (match.model !== undefined && !(target.model ?? '').includes(match.model)) return false;
  return true;
}

/** Creates an empty fault store. */
export function createFaultStore(): FaultStore {
  const faults: { fault: Fault; remaining: number }[] = [];

  return {
    inject(fault) {
      faults.push({ fault, remaining: fault.times ?? 1 });
    },
    take<K extends FaultKind>(target: FaultTarget, kinds: readonly K[]) {
      const index = faults.findIndex(
        (entry) => (kinds as readonly FaultKind[]).includes(entry.fault.kind) && matches(entry.fault, target),
      );
      const entry = faults[index];
      if (!entry) return undefined;
      entry.remaining -= 1;
      if (entry.remaining <= 0) faults.splice(index, 1);
      return entry.fault as Extract<Fault, { kind: K }>;
    },
    clear() {
      faults.length = 0;
    },
    pending() {
      return faults.map((entry) => entry.fault);
    },
  };
}
