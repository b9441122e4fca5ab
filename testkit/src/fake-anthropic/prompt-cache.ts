// A per-account prompt cache that reports usage the way the API does (docs/ANTHROPIC.md §6).
import { createHash } from 'node:crypto';
import type { PromptSegment } from './tokenizer.js';

/** Input usage of one request after the cache had its say. */
export interface CacheUsage {
  inputTokens: number;
  cacheCreationInputTokens: number;
  cacheReadInputTokens: number;
  ephemeral5mInputTokens: number;
  ephemeral1hInputTokens: number;
}

/** Caches prompt prefixes per account and model. */
export interface PromptCache {
  apply(accountId: string, model: string, segments: PromptSegment[]): CacheUsage;
  clear(): void;
}

// The API looks for earlier hits up to 20 blocks before each breakpoint.
const LOOKBACK_BLOCKS = 20;
const TTL_MS = { '5m': 5 * 60_000, '1h': 60 * 60_000 } as const;

const SWEEP_ABOVE = 10_000;

function sweep(cache: Map<string, number>, at: number): void {
  for (const [hash, expiresAt] of cache) if (expiresAt <= at) cache.delete(hash);
}

interface Boundary {
  hash: string;
  cumulative: number;
}

function boundaries(model: string, segments: PromptSegment[]): Boundary[] {
  const hash = createHash('sha256').update(model);
  let cumulative = 0;
  return segments.map((segment) => {
    hash.update(segment.key).update('\u0000');
    cumulative += segment.tokens;
    return { hash: hash.copy().digest('hex'), cumulative };
  });
}

/** Creates an empty cache. */
export function createPromptCache(options: { minCacheableTokens?: number; now?: () => number } = {}): PromptCache {
  const now = options.now ?? Date.now;
  const minTokens = options.minCacheableTokens ?? 0;
  const perAccount = new Map<string, Map<string, number>>();

  function entries(accountId: string): Map<string, number> {
    let map = perAccount.get(accountId);
    if (!map) {
      map = new Map();
      perAccount.set(accountId, map);
    }
    return map;
  }

  function longestHit(cache: Map<string, number>, bounds: Boundary[], breakpoints: number[]): number {
    const at = now();
    let best = -1;
    for (const point of breakpoints) {
      for (let i = point; i >= Math.max(0, point - LOOKBACK_BLOCKS) && i > best; i--) {
        const expiresAt = cache.get(bounds[i]?.hash ?? '');
        if (expiresAt !== undefined && expiresAt > at) {
          best = i;
          break;
        }
      }
    }
    return best;
  }

  return {
    apply(accountId, model, segments) {
      const total = segments.reduce((sum, segment) => sum + segment.tokens, 0);
      const bounds = boundaries(model, segments);
      const breakpoints = segments.flatMap((segment, i) =>
        segment.cacheTtl && (bounds[i]?.cumulative ?? 0) >= minTokens ? [i] : [],
      );
      const cache = entries(accountId);
      if (cache.size > SWEEP_ABOVE) sweep(cache, now());
      const hit = longestHit(cache, bounds, breakpoints);
      const read = hit >= 0 ? (bounds[hit]?.cumulative ?? 0) : 0;
      const usage: CacheUsage = {
        inputTokens: 0,
        cacheCreationInputTokens: 0,
        cacheReadInputTokens: read,
        ephemeral5mInputTokens: 0,
        ephemeral1hInputTokens: 0,
      };
      let covered = read;
      for (const point of breakpoints) {
        const ttl = segments[point]?.cacheTtl ?? '5m';
        const cumulative = bounds[point]?.cumulative ?? 0;
        cache.set(bounds[point]?.hash ?? '', now() + TTL_MS[ttl]);
        if (cumulative <= covered) continue;
        const written = cumulative - covered;
        usage.cacheCreationInputTokens += written;
        if (ttl === '1h') usage.ephemeral1hInputTokens += written;
        else usage.ephemeral5mInputTokens += written;
        covered = cumulative;
      }
      usage.inputTokens = total - covered;
      return usage;
    },
    clear() {
      perAccount.clear();
    },
  };
}
