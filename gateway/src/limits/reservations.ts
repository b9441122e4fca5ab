// A key's reservations on this instance: held when a request's body is parsed, kept after it ends until the
// usage worker has counted it (its keys.usageDone marker), dropped at once when it never reached a node.
import type { KeyState } from './limit-state.js';

function add(state: KeyState, micros: number, tokens: number): void {
  state.reserved.micros += micros;
  state.reserved.tokens += tokens;
  state.reservedDirty = true;
}

/** Holds a request's reservation (a second hold under the same id replaces the first). */
export function holdReservation(state: KeyState, requestId: string, micros: number, tokens: number): void {
  dropReservation(state, requestId);
  state.reservations.set(requestId, { micros, tokens, endedAtMs: null });
  add(state, micros, tokens);
}

/** Drops a reservation; false when there was none. */
export function dropReservation(state: KeyState, requestId: string): boolean {
  const r = state.reservations.get(requestId);
  if (r === undefined) return false;
  state.reservations.delete(requestId);
  add(state, -r.micros, -r.tokens);
  return true;
}

/** The request ended: its reservation waits for the worker's count when it reached a node, else goes now. */
export function endReservation(state: KeyState, requestId: string, awaitUsage: boolean, nowMs: number): void {
  const r = state.reservations.get(requestId);
  if (r === undefined) return;
  if (awaitUsage) r.endedAtMs = nowMs;
  else dropReservation(state, requestId);
}

/** The ids of ended requests whose usage is not counted yet (as far as this instance knows). */
export function pendingIds(state: KeyState): string[] {
  const ids: string[] = [];
  for (const [id, r] of state.reservations) if (r.endedAtMs !== null) ids.push(id);
  return ids;
}

/** Drops the ended reservations older than timeoutMs (the worker never counted them); returns their ids. */
export function expireReservations(state: KeyState, nowMs: number, timeoutMs: number): string[] {
  const expired: string[] = [];
  for (const [id, r] of state.reservations) {
    if (r.endedAtMs !== null && nowMs - r.endedAtMs > timeoutMs) expired.push(id);
  }
  for (const id of expired) dropReservation(state, id);
  return expired;
}
