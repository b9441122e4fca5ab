// Argument checks every store implementation applies, so the twin rejects exactly what Redis would.
import { randomBytes } from 'node:crypto';
import type { OnceWrites } from './store.js';

/** Throws a RangeError unless ttlMs is a positive safe integer (Redis rejects PX 0 and fractions). */
export function assertTtlMs(ttlMs: number): void {
  if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0)
    throw new RangeError(`ttlMs must be a positive integer, got ${ttlMs}`);
}

/** The optional TTL as the script argument: '0' means none. */
export function ttlArg(ttlMs: number | undefined): string {
  if (ttlMs === undefined) return '0';
  assertTtlMs(ttlMs);
  return String(ttlMs);
}

/** The increments as [field, amount] pairs, each amount a safe integer (HINCRBY takes integers only). */
export function incrementPairs(increments: Record<string, number>): [string, number][] {
  const pairs = Object.entries(increments);
  for (const [field, by] of pairs) {
    if (!Number.isSafeInteger(by)) throw new RangeError(`increment of "${field}" must be an integer, got ${by}`);
  }
  return pairs;
}

/** A random owner token for a lock. */
export function newLockToken(): string {
  return randomBytes(16).toString('hex');
}

/** Throws a RangeError unless index is a safe integer (LRANGE takes integers only). */
export function assertListIndex(index: number): void {
  if (!Number.isSafeInteger(index)) throw new RangeError(`list index must be an integer, got ${index}`);
}

/** Throws a RangeError for anything in `writes` Redis would refuse (a TTL, an amount, a `keep` below 1), so nothing is written. */
export function assertOnceWrites(writes: OnceWrites): void {
  assertTtlMs(writes.marker.ttlMs);
  for (const w of writes.always ?? []) assertTtlMs(w.ttlMs);
  for (const i of writes.increments ?? []) {
    ttlArg(i.ttlMs);
    incrementPairs(i.by);
  }
  for (const m of writes.members ?? []) ttlArg(m.ttlMs);
  for (const p of writes.pushes ?? []) {
    if (!Number.isSafeInteger(p.keep) || p.keep < 1)
      throw new RangeError(`keep must be a positive integer, got ${p.keep}`);
  }
}
