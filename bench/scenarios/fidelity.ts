// SSE fidelity: the same request direct and through the chain gives the same frames and bytes.
import { exchange } from '../client.js';
import type { BenchContext, Payload } from '../context.js';

/** One body's comparison. */
export interface FidelityResult {
  body: string;
  frames: { direct: number; chain: number };
  bytes: { direct: number; chain: number };
  /** The two bodies are identical once the per-response ids (msg_…, toolu_…) are masked. */
  identicalAfterMasking: boolean;
  equal: boolean;
}

/** Ids the fake makes fresh for every response; same length, so byte counts compare without masking. */
export function maskIds(sse: string): string {
  return sse.replace(/msg_[0-9A-Za-z]+/g, 'msg_<id>').replace(/toolu_[0-9A-Za-z]+/g, 'toolu_<id>');
}

/**
 * Sends `payload` once each way (after one unmeasured request each, so both see a warm prompt cache)
 * and compares what came back.
 * @example
 * const r = await fidelity(ctx, ctx.large);
 */
export async function fidelity(ctx: BenchContext, payload: Payload): Promise<FidelityResult> {
  const direct = ctx.target('direct', 1);
  const chain = ctx.target('chain', 1);
  await exchange(direct, payload.body, payload.headers);
  await exchange(chain, payload.body, payload.headers);
  const d = await exchange(direct, payload.body, payload.headers, { keepText: true });
  const c = await exchange(chain, payload.body, payload.headers, { keepText: true });
  if (!d.ok || !c.ok) throw new Error(`fidelity request failed: direct ${d.error ?? 'ok'}, chain ${c.error ?? 'ok'}`);
  const identical = maskIds(d.text ?? '') === maskIds(c.text ?? '');
  return {
    body: payload.label,
    frames: { direct: d.frames, chain: c.frames },
    bytes: { direct: d.bytes, chain: c.bytes },
    identicalAfterMasking: identical,
    equal: d.frames === c.frames && d.bytes === c.bytes && identical,
  };
}
