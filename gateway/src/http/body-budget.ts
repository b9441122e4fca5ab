// The request bodies one gateway holds at a time, bounded: each is kept whole (it is forwarded as sent, and
// again on a failover), so without a bound N concurrent uploads of MAX_BODY_BYTES hold N × 32 MiB.
import type { IncomingMessage } from 'node:http';
import { AppError, readBoundedBody } from '@switchyard/shared';

/** Bytes of request bodies held by the requests in flight, against MAX_INFLIGHT_BODY_BYTES. */
export class BodyBudget {
  #held = 0;

  constructor(readonly limitBytes: number) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0) throw new RangeError('limitBytes must be a positive integer');
  }

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }

  /** Takes `bytes` when they fit under the limit; false (and nothing taken) when they do not. */
  tryTake(bytes: number): boolean {
    if (this.#held + bytes > this.limitBytes) return false;
    this.#held += bytes;
    return true;
  }

  give(bytes: number): void {
    this.#held = Math.max(0, this.#held - bytes);
  }
}

/** A body read under a BodyBudget: the bytes, and `release()` to call once the request is over (once). */
export interface HeldBody {
  body: Buffer;
  release: () => void;
}

function busy(): AppError {
  return new AppError('busy', 'This gateway holds as many request bodies as it may; retry shortly.', { retryAfterSec: 1 });
}

/**
 * Reads a request's body (at most `maxBytes`) with its bytes taken from `budget` first: a declared
 * content-length is taken whole before a byte is read, a chunked body chunk by chunk. Past the budget:
 * 503 `busy` (overloaded_error, retry-after 1), nothing of the body kept. Past maxBytes: 413.
 */
export async function readHeldBody(req: IncomingMessage, maxBytes: number, budget: BodyBudget): Promise<HeldBody> {
  const declared = req.headers['content-length'];
  const tooLarge = () => new AppError('body_too_large', `Request body is larger than ${maxBytes} bytes`);
  let taken = 0;
  const release = (): void => {
    budget.give(taken);
    taken = 0;
  };
  let refusedChunk = false;
  let admitChunk: ((bytes: number) => boolean) | undefined;
  if (declared !== undefined) {
    const length = Number(declared);
    if (length > maxBytes) throw tooLarge();
    if (!budget.tryTake(length)) throw busy();
    taken = length;
  } else {
    admitChunk = (bytes) => {
      if (!budget.tryTake(bytes)) {
        refusedChunk = true;
        return false;
      }
      taken += bytes;
      return true;
    };
  }
  let body: Buffer | undefined;
  try {
    body = await readBoundedBody(req, maxBytes, admitChunk);
  } catch (err) {
    release();
    throw err;
  }
  if (body === undefined) {
    release();
    throw refusedChunk ? busy() : tooLarge();
  }
  return { body, release };
}
