// The PriceBook on @pydantic/genai-prices' bundled data (never fetched: updatePrices is not called), with an
// operator's PRICES_FILE models matched first. Every figure is the library's: we map our counters into its
// usage through its own Anthropic extractor, and type no price or mapping table ourselves (docs/COST.md).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import {
  calcPrice,
  extractUsage,
  findProvider,
  type ModelInfo,
  type Provider,
  type Usage,
} from '@pydantic/genai-prices';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';
import { emptyUsage } from '../anthropic/usage.js';
import type { PriceBook, PricedUsage, RequestCost } from './price-book.js';
import { PricesFileError, readPricesFile } from './prices-file.js';

const PACKAGE = '@pydantic/genai-prices';
const MICROS_PER_DOLLAR = 1_000_000;
/** Model names whose match is remembered (a name the data does not know is remembered as unpriced). */
const MATCHED_MODELS_KEPT = 1_000;
const PackageJsonSchema = z.object({ name: z.string(), version: z.string().min(1) });

export interface LoadPriceBookOptions {
  /** A PRICES_FILE (docs/COST.md): its models are matched before genai-prices' own. */
  pricesFile?: string;
}

/** The installed genai-prices version, read from its package.json on disk (its exports map keeps `require` from reaching it). */
function genaiPricesVersion(): string {
  const entry = createRequire(import.meta.url).resolve(PACKAGE);
  for (let dir = dirname(entry); dir !== dirname(dir); dir = dirname(dir)) {
    try {
      const pkg = PackageJsonSchema.safeParse(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')));
      if (pkg.success && pkg.data.name === PACKAGE) return pkg.data.version;
    } catch {
      // No package.json at this level: keep walking up.
    }
  }
  throw new Error(`cannot read the version of ${PACKAGE} (resolved at ${entry})`);
}

/** Our counters as the API's `usage` object, so the library's own Anthropic extractor maps them. */
function anthropicUsage(u: PricedUsage): Record<string, unknown> {
  // Inconsistent splits (5m + 1h above the total) would make the library refuse the usage: the split wins.
  const writes = Math.max(u.cacheCreationInputTokens, u.cacheCreation5mInputTokens + u.cacheCreation1hInputTokens);
  return {
    usage: {
      input_tokens: u.inputTokens,
      output_tokens: u.outputTokens,
      cache_creation_input_tokens: writes,
      cache_read_input_tokens: u.cacheReadInputTokens,
      cache_creation: {
        ephemeral_5m_input_tokens: u.cacheCreation5mInputTokens,
        ephemeral_1h_input_tokens: u.cacheCreation1hInputTokens,
      },
    },
  };
}

function micros(dollars: number): number {
  return Math.round(dollars * MICROS_PER_DOLLAR);
}

/**
 * Prices a request touching every key through each file model alone, so a price the library refuses (a 1-hour
 * write rate without the 5-minute one it refines, say) stops the start instead of a job.
 */
function checkPricedByLibrary(file: string, models: readonly ModelInfo[], anthropic: Provider): void {
  const probe = {
    input_tokens: 10,
    cache_write_tokens: 3,
    cache_write_5m_tokens: 1,
    cache_write_1h_tokens: 1,
    cache_read_tokens: 2,
    output_tokens: 1,
  };
  models.forEach((model, i) => {
    const alone: Provider = { ...anthropic, models: [{ ...model, match: { equals: PROBE_MODEL } }] };
    try {
      calcPrice(probe, PROBE_MODEL, { provider: alone });
    } catch (err) {
      throw new PricesFileError(
        file,
        `$.models[${i}].prices`,
        `${PACKAGE} cannot price with it (${(err as Error).message})`,
      );
    }
  });
}
const PROBE_MODEL = 'switchyard-prices-file-probe';

const NO_TOKENS: PricedUsage = emptyUsage();

/**
 * Loads the price data once (synchronous; fails fast on a bad PRICES_FILE with a PricesFileError naming the
 * file and the JSON path).
 * @example
 * const prices = loadPriceBook({ pricesFile: config.PRICES_FILE });
 * prices.version; // 'genai-prices@0.1.8+prices-file:3f2a9c1b07de'
 * prices.cost('claude-sonnet-4-5', usage, job.at); // { priced: true, costMicros: 1234, cacheSavingsMicros: 56 }
 */
export function loadPriceBook(options: LoadPriceBookOptions = {}): PriceBook {
  const anthropic = findProvider({ providerId: 'anthropic' });
  if (anthropic === undefined) throw new Error(`${PACKAGE} has no anthropic provider`);
  let version = `genai-prices@${genaiPricesVersion()}`;
  let provider: Provider = anthropic;
  if (options.pricesFile !== undefined) {
    const file = readPricesFile(options.pricesFile);
    checkPricedByLibrary(options.pricesFile, file.models, anthropic);
    // First match wins, so the file's models are put before the library's.
    provider = { ...anthropic, models: [...file.models, ...anthropic.models] };
    version += `+prices-file:${file.sha256}`;
  }
  return new LibraryPriceBook(provider, version);
}

/** Prices through genai-prices over one provider (the library's anthropic models, a prices file's first). */
class LibraryPriceBook implements PriceBook {
  readonly version: string;
  readonly #provider: Provider;
  // calcPrice normalises the whole provider it is given on every call (~25 µs a model here): each model name is
  // matched once against all of them, then priced through a provider holding only the model it matched.
  readonly #matched = new LRUCache<string, { provider: Provider | null }>({ max: MATCHED_MODELS_KEPT });

  constructor(provider: Provider, version: string) {
    this.#provider = provider;
    this.version = version;
  }

  cost(model: string, usage: PricedUsage, at: number = Date.now()): RequestCost {
    const charged = this.#toUsage(usage);
    const actual = this.#price(model, charged, at);
    if (actual === null) return { priced: false, costMicros: 0, cacheSavingsMicros: 0 };
    // The same tokens with no cache fields: every input token at the plain input rate (same total, so same tier).
    const plain = this.#price(
      model,
      { input_tokens: charged.input_tokens ?? 0, output_tokens: charged.output_tokens ?? 0 },
      at,
    );
    const costMicros = micros(actual.total_price);
    return {
      priced: true,
      costMicros,
      cacheSavingsMicros: micros(plain?.total_price ?? actual.total_price) - costMicros,
    };
  }

  reservationMicros(model: string, bodyBytes: number, maxTokens: number, cacheWrite: 'none' | '5m' | '1h'): number {
    const bytes = Math.max(0, Math.ceil(bodyBytes));
    const output = Math.max(0, Math.ceil(maxTokens));
    // Every byte as one token at the dearest input rate the body may be charged: plain input, or the cache
    // write it asks for (and the 5-minute one below a 1-hour ask). The library applies the tier from the total.
    const asks: PricedUsage[] = [{ ...NO_TOKENS, inputTokens: bytes, outputTokens: output }];
    if (cacheWrite !== 'none')
      asks.push({
        ...NO_TOKENS,
        cacheCreationInputTokens: bytes,
        cacheCreation5mInputTokens: bytes,
        outputTokens: output,
      });
    if (cacheWrite === '1h')
      asks.push({
        ...NO_TOKENS,
        cacheCreationInputTokens: bytes,
        cacheCreation1hInputTokens: bytes,
        outputTokens: output,
      });
    return Math.max(...asks.map((u) => micros(this.#price(model, this.#toUsage(u), Date.now())?.total_price ?? 0)));
  }

  #toUsage(u: PricedUsage): Usage {
    return extractUsage(this.#provider, anthropicUsage(u)).usage;
  }

  #price(model: string, usage: Usage, at: number) {
    const one = this.#providerFor(model, usage, at);
    return one === null ? null : calcPrice(usage, model, { provider: one, timestamp: new Date(at) });
  }

  #providerFor(model: string, usage: Usage, at: number): Provider | null {
    let entry = this.#matched.get(model);
    if (entry === undefined) {
      const found = calcPrice(usage, model, { provider: this.#provider, timestamp: new Date(at) });
      entry = { provider: found === null ? null : { ...this.#provider, models: [found.model] } };
      this.#matched.set(model, entry);
    }
    return entry.provider;
  }
}
