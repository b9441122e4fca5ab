// What a parsed request reserves against its key's budgets: the most it can use and cost (docs/BUDGETS.md).
import type { PriceBook } from '@switchyard/shared';
import type { RequestReservation } from './key-limiter.js';

/** The parts of a request its reservation is computed from. */
export interface ReservationInput {
  requestId: string;
  /** The body's size in bytes, as received. */
  bodyBytes: number;
  model: string | undefined;
  /** The body's max_tokens; undefined when absent or not a positive integer (Anthropic answers 400). */
  maxTokens: number | undefined;
  /** The most expensive prompt-cache write the body asks for. */
  cacheWrite: 'none' | '5m' | '1h';
}

/**
 * Tokens: every byte of the body taken as a token (a text token is at least one byte of the body) plus
 * max_tokens (output never exceeds it, thinking included). Micro-dollars: the price book's bound for the same.
 * A request without max_tokens reserves its body's bytes only; a model without a price reserves no dollars.
 * @example
 * requestReservation(book, { requestId, bodyBytes: 1_200, model: 'claude-sonnet-4-5', maxTokens: 1_024, cacheWrite: 'none' })
 * // → { requestId, tokens: 2_224, micros: book.reservationMicros('claude-sonnet-4-5', 1_200, 1_024, 'none') }
 */
export function requestReservation(
  priceBook: Pick<PriceBook, 'reservationMicros'>,
  input: ReservationInput,
): RequestReservation {
  const maxTokens = input.maxTokens ?? 0;
  const micros =
    input.model === undefined
      ? 0
      : priceBook.reservationMicros(input.model, input.bodyBytes, maxTokens, input.cacheWrite);
  return {
    requestId: input.requestId,
    tokens: input.bodyBytes + maxTokens,
    micros: Number.isFinite(micros) && micros > 0 ? Math.ceil(micros) : 0,
  };
}
