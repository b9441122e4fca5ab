// What one gateway instance knows about one key: its own counts (exact, updated on the request path) and the
// rest of the fleet's (as of the last background sync). Plain data plus pure helpers, so admit() stays synchronous.
import { budgetTokens } from '@switchyard/shared';
import type { KeyRecord } from '../keys/key-record.js';

/** The fields of a gateway key the limiter reads; every KeyRecord is one. */
export type LimitedKey = Pick<
  KeyRecord,
  'id' | 'rpm' | 'concurrency' | 'dailyTokenBudget' | 'dailyUsdBudget' | 'monthlyUsdBudget'
>;

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;

/** What one request holds against its key's budgets while it runs and until its usage is counted. */
export interface Reservation {
  /** Micro-dollars at list prices: the most the request can cost (PriceBook.reservationMicros). */
  micros: number;
  /** Tokens: the most the request can use (its body's bytes plus max_tokens). */
  tokens: number;
  /** When the request ended (its usage is on its way to the worker); null while it runs. */
  endedAtMs: number | null;
}

/** One key as this instance sees it. */
export interface KeyState {
  readonly id: string;
  /** The record passed to the latest admit() (limits may change between requests). */
  limits: LimitedKey;
  lastSeenMs: number;
  /** This instance's requests of the key that have not released yet. */
  inFlight: number;
  /** inFlight changed since it was last written to Redis. */
  concDirty: boolean;
  /** The minute (epochMinute) localInMinute counts. */
  minute: number;
  /** Requests this instance admitted in `minute`. */
  localInMinute: number;
  /** Admissions per minute not yet added to the shared window. */
  pendingRate: Map<number, number>;
  /** The other instances' requests in `minute`, as last read. */
  remoteRate: { minute: number; count: number } | undefined;
  /** The other instances' in-flight requests, as last read at `atMs`. */
  remoteConc: { count: number; atMs: number } | undefined;
  /** Tokens and micro-dollars counted for the key on UTC day `dayIndex` (days since the epoch), as last read. */
  budget: { dayIndex: number; used: number; micros: number } | undefined;
  /** Micro-dollars counted for the key in UTC month `monthIndex` (monthIndexOf), as last read. */
  monthSpend: { monthIndex: number; micros: number } | undefined;
  /** This instance's reservations by request id: running requests, and ended ones whose usage is not counted yet. */
  reservations: Map<string, Reservation>;
  /** The sum of `reservations`. */
  reserved: { micros: number; tokens: number };
  /** `reserved` changed since it was last written to Redis. */
  reservedDirty: boolean;
  /** The other instances' reservations, as last read at `atMs`. */
  remoteReserved: { micros: number; tokens: number; atMs: number } | undefined;
  /** The key's budget figures have been read at least once since this instance first saw it. */
  budgetRead: boolean;
  /** The read started when this instance first saw the key (settles, never rejects); undefined when none was started. */
  firstRead: Promise<void> | undefined;
}

/** A fresh state for a key first seen at nowMs. */
export function newKeyState(key: LimitedKey, nowMs: number): KeyState {
  return {
    id: key.id,
    limits: key,
    lastSeenMs: nowMs,
    inFlight: 0,
    concDirty: false,
    minute: Math.floor(nowMs / MINUTE_MS),
    localInMinute: 0,
    pendingRate: new Map(),
    remoteRate: undefined,
    remoteConc: undefined,
    budget: undefined,
    monthSpend: undefined,
    reservations: new Map(),
    reserved: { micros: 0, tokens: 0 },
    reservedDirty: false,
    remoteReserved: undefined,
    budgetRead: false,
    firstRead: undefined,
  };
}

/** Whether the key has a limit that needs the fleet's numbers (so the state is worth syncing). */
export function needsSync(key: LimitedKey): boolean {
  return key.rpm !== null || key.concurrency !== null || hasBudget(key);
}

/** Whether the key has a budget (tokens or USD), so its requests hold reservations. */
export function hasBudget(key: LimitedKey): boolean {
  return key.dailyTokenBudget !== null || key.dailyUsdBudget !== null || key.monthlyUsdBudget !== null;
}

/** Whole seconds (at least 1) until the next minute starts: when a fixed rpm window frees up. */
export function secondsToNextMinute(nowMs: number): number {
  return Math.max(1, Math.ceil((MINUTE_MS - (nowMs % MINUTE_MS)) / 1000));
}

/** Whole seconds (at least 1) until the next 00:00 UTC: when a daily budget starts over. */
export function secondsToNextUtcDay(nowMs: number): number {
  return Math.max(1, Math.ceil((DAY_MS - (nowMs % DAY_MS)) / 1000));
}

/** Whole seconds (at least 1) until the 1st of the next month, 00:00 UTC: when a monthly budget starts over. */
export function secondsToNextUtcMonth(nowMs: number): number {
  const d = new Date(nowMs);
  const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1);
  return Math.max(1, Math.ceil((next - nowMs) / 1000));
}

/** Months since January 1970 (UTC) of an instant; the same month as utcMonth(ms). */
export function monthIndexOf(nowMs: number): number {
  const d = new Date(nowMs);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** Days since the epoch (UTC) of an instant; the same day as utcDay(ms) without building a string per request. */
export function dayIndexOf(nowMs: number): number {
  return Math.floor(nowMs / DAY_MS);
}

function toCount(raw: string | undefined): number {
  const n = Number(raw);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

/** The shared rate window's total minus this instance's own field: requests the other instances admitted. */
export function othersInWindow(hash: Record<string, string>, self: string): number {
  let sum = 0;
  for (const field in hash) if (field !== self) sum += toCount(hash[field]);
  return sum;
}

/** A concurrency field value: this instance's in-flight count and when it was written (so a dead instance's count ages out). */
export function encodeInFlight(count: number, atMs: number): string {
  return `${count}:${atMs}`;
}

/** The other instances' in-flight requests: fields written within staleMs of nowMs, except this instance's own. */
export function othersInFlight(hash: Record<string, string>, self: string, nowMs: number, staleMs: number): number {
  let sum = 0;
  for (const field in hash) {
    if (field === self) continue;
    const value = hash[field] ?? '';
    const sep = value.indexOf(':');
    if (sep <= 0) continue;
    const atMs = Number(value.slice(sep + 1));
    if (Number.isFinite(atMs) && nowMs - atMs <= staleMs) sum += toCount(value.slice(0, sep));
  }
  return sum;
}

/** Tokens counted in a usage hash against the daily token budget (budgetTokens: the charged tokens). */
export function usageTotal(hash: Record<string, string>): number {
  return budgetTokens((field) => toCount(hash[field]));
}

/** Micro-dollars counted in a usage hash (its `costMicros`). */
export function usageMicros(hash: Record<string, string>): number {
  return toCount(hash.costMicros);
}

/** A reserved-hash field value: this instance's reserved micro-dollars and tokens, and when it was written. */
export function encodeReserved(micros: number, tokens: number, atMs: number): string {
  return `${micros}:${tokens}:${atMs}`;
}

/** The other instances' reservations: fields written within staleMs of nowMs, except this instance's own. */
export function othersReserved(
  hash: Record<string, string>,
  self: string,
  nowMs: number,
  staleMs: number,
): { micros: number; tokens: number } {
  let micros = 0;
  let tokens = 0;
  for (const field in hash) {
    if (field === self) continue;
    const parts = (hash[field] ?? '').split(':');
    if (parts.length !== 3) continue;
    const atMs = Number(parts[2]);
    if (!Number.isFinite(atMs) || nowMs - atMs > staleMs) continue;
    micros += toCount(parts[0]);
    tokens += toCount(parts[1]);
  }
  return { micros, tokens };
}
