// The request bodies one gateway holds at a time, bounded: each is kept whole (it is forwarded as sent, and
// again on a failover), so without a bound N concurrent uploads of MAX_BODY_BYTES hold N × 32 MiB.
// docs/EDGES.md, "Bounded memory".
import type { IncomingMessage } from 'node:http';
import { AppError, readBoundedBody } from '@switchyard/shared';

/**
 * Bytes of request bodies held by the requests in flight: at most `limitBytes` in all (MAX_INFLIGHT_BODY_BYTES)
 * and at most `perKeyBytes` for any one gateway key, so one key holder cannot take the whole budget from the
 * others (with bodies it sends, or declares and never sends).
 */
export class BodyBudget {
  #held = 0;
  readonly #byKey = new Map<string, number>();

  constructor(
    readonly limitBytes: number,
    readonly perKeyBytes: number,
  ) {
    if (!Number.isSafeInteger(limitBytes) || limitBytes <= 0)
      throw new RangeError('limitBytes must be a positive integer');
    if (!Number.isSafeInteger(perKeyBytes) || perKeyBytes <= 0 || perKeyBytes > limitBytes)
      throw new RangeError('perKeyBytes must be a positive integer no larger than limitBytes');
  }

  /** Bytes held now, in all. */
  get held(): number {
    return this.#held;
  }

  /** Bytes one key holds now. */
  heldBy(keyId: string): number {
    return this.#byKey.get(keyId) ?? 0;
  }

  /** Takes `bytes` for `keyId` when they fit under both limits; false (and nothing taken) when they do not. */
  tryTake(keyId: string, bytes: number): boolean {
    const mine = this.heldBy(keyId);
    if (this.#held + bytes > this.limitBytes || mine + bytes > this.perKeyBytes) return false;
    this.#held += bytes;
    this.#byKey.set(keyId, mine + bytes);
    return true;
  }

  /** Gives back what `keyId` took; giving back more than it holds is a bug and throws. */
  give(keyId: string, bytes: number): void {
    const mine = this.heldBy(keyId) - bytes;
    if (mine < 0 || this.#held - bytes < 0)
      throw new RangeError(`gave back ${bytes} bytes for a key that held ${this.heldBy(keyId)}`);
    this.#held -= bytes;
    if (mine === 0) this.#byKey.delete(keyId);
    else this.#byKey.set(keyId, mine);
  }
}

/** A request's claim on the budget, made before its body is read: `read()` it once, `release()` when the request is over. */
export interface BodyHold {
  read: () => Promise<Buffer>;
  /** Gives back every byte taken (a second call does nothing). */
  release: () => void;
}

function busy(): AppError {
  return new AppError('busy', 'This gateway holds as many request bodies as it may; retry shortly.', {
    retryAfterSec: 1,
  });
}

/**
 * Claims a request's body on `budget` for `keyId`: a declared content-length is taken whole now, before a byte is
 * read (413 past `maxBytes`, 503 `busy` — overloaded_error, retry-after 1 — past the budget); a chunked body is
 * taken chunk by chunk as `read()` receives it (the same answers, and nothing of it kept).
 */
export function holdBody(req: IncomingMessage, maxBytes: number, budget: BodyBudget, keyId: string): BodyHold {
  const declared = req.headers['content-length'];
  const tooLarge = () => new AppError('body_too_large', `Request body is larger than ${maxBytes} bytes`);
  let taken = 0;
  if (declared !== undefined) {
    const length = Number(declared);
    if (length > maxBytes) throw tooLarge();
    if (!budget.tryTake(keyId, length)) throw busy();
    taken = length;
  }
  const release = (): void => {
    if (taken > 0) budget.give(keyId, taken);
    taken = 0;
  };
  const read = async (): Promise<Buffer> => {
    let refusedChunk = false;
    const admitChunk =
      declared !== undefined
        ? undefined
        : (bytes: number): boolean => {
            if (!budget.tryTake(keyId, bytes)) {
              refusedChunk = true;
              return false;
            }
            taken += bytes;
            return true;
          };
    const body = await readBoundedBody(req, maxBytes, admitChunk);
    if (body === undefined) throw refusedChunk ? busy() : tooLarge();
    return body;
  };
  return { read, release };
}
