// The contract of pricing (docs/COST.md). The implementation reads @pydantic/genai-prices and PRICES_FILE.

/** Exact token counts of one request, as the usage counters hold them (cache writes are not part of inputTokens). */
export interface PricedUsage {
  inputTokens: number;
  outputTokens: number;
  cacheCreationInputTokens: number;
  cacheCreation5mInputTokens: number;
  cacheCreation1hInputTokens: number;
  cacheReadInputTokens: number;
}

/** What one request cost, in integer micro-dollars. */
export interface RequestCost {
  /** False when no price is known for the model: every figure is 0. */
  priced: boolean;
  costMicros: number;
  /** The same tokens all at the plain input price, minus what they cost (negative when cache writes outweighed reads). */
  cacheSavingsMicros: number;
}

/** Prices for the models, from one version of the price data. */
export interface PriceBook {
  /** The price data's version, e.g. `genai-prices@0.1.8` or `genai-prices@0.1.8+prices-file:3f2a9c1b`. */
  readonly version: string;
  /**
   * One request's cost. A model with no price costs 0 with `priced: false`. `at` (epoch ms, default now) picks
   * the prices in force when the request arrived, for models whose price changed on a date.
   */
  cost(model: string, usage: PricedUsage, at?: number): RequestCost;
  /**
   * The most a request can cost (micro-dollars), for budget reservations at admission: every byte of the body
   * taken as one input token at the highest input rate it may be charged (a cache write when the body asks for
   * caching), plus maxTokens at the output rate, with the long-context tier when the body is past it. 0 when the
   * model has no price.
   */
  reservationMicros(model: string, bodyBytes: number, maxTokens: number, cacheWrite: 'none' | '5m' | '1h'): number;
}
